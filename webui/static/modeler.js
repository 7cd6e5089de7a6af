// The diagram editor of a draft: bpmn-js's modeler with its properties panel for the generic fields
// (name, documentation, conditions), and riskflow's own settings form for the step properties the
// engine reads (due time, follow-up, expected duration, priority, form, policy point, instructions,
// operation) and for the grade of each lane (lanes.json). Saving sends the diagram and the lanes
// together; the server refuses a setting the engine could not run, naming the step.
// The page works without this script: the draft's files can always be edited as text.
const root = document.getElementById("riskflow-modeler");
const status = document.getElementById("modeler-status");
const settings = document.getElementById("riskflow-settings");
const saveButton = document.getElementById("modeler-save");
const SPIFF = "spiffworkflow";

let revision = Number(root.dataset.revision);
let dirty = false;
let selected = null;

function say(message) {
  status.textContent = message;
}

const panel = window.BpmnJSPropertiesPanel;
const descriptor = await (await fetch(root.dataset.moddleUrl)).json();
const modeler = new window.BpmnJS({
  container: "#canvas",
  propertiesPanel: { parent: "#properties" },
  additionalModules: [panel.BpmnPropertiesPanelModule, panel.BpmnPropertiesProviderModule],
  moddleExtensions: { spiffworkflow: descriptor },
});
window.riskflowModeler = modeler; // for the browser tests
const moddle = modeler.get("moddle");
const modeling = modeler.get("modeling");
const registry = modeler.get("elementRegistry");

let opened = "Opened.";
try {
  const xml = await (await fetch(root.dataset.xmlUrl)).text();
  const { warnings } = await modeler.importXML(xml);
  const canvas = modeler.get("canvas");
  canvas.zoom("fit-viewport");
  if (canvas.zoom() < 0.6) {
    // A long process fitted whole is too small to read: start readable, at its start event.
    canvas.zoom(0.8);
    const start = registry.filter((e) => e.type === "bpmn:StartEvent")[0];
    if (start) canvas.scrollToElement(start);
  }
  if (warnings.length) opened = `Opened, with ${warnings.length} warning(s) from the diagram reader.`;
} catch (error) {
  say(`The diagram could not be opened: ${error.message}. Edit the file as text instead.`);
  throw error;
}
await markProblems();

const commandStack = modeler.get("commandStack");
const laneForm = document.getElementById("riskflow-lane");
const savedLanes = JSON.parse(root.dataset.lanes);
const lanes = { ...savedLanes }; // lane name -> role code, as lanes.json will hold it
const roleTitles = Object.fromEntries(JSON.parse(root.dataset.roles));
// Each change of a setting is one command of the modeler, so Undo and Redo (Ctrl+Z, Ctrl+Y) take
// it back and forth like any change of the diagram; the lanes' roles too, though they are kept in
// lanes.json rather than in the diagram.
commandStack.register("riskflow.setting.update", { preExecute: (context) => applySetting(context) });
commandStack.register("riskflow.lane.role", {
  execute(context) {
    context.old = lanes[context.lane];
    setLaneRole(context.lane, context.role);
    return [context.element];
  },
  revert(context) {
    setLaneRole(context.lane, context.old);
    return [context.element];
  },
});

modeler.on("commandStack.changed", () => {
  dirty = true;
  say("Unsaved changes.");
  showSettings(selected); // after an undo or redo the form shows the step as it now is
});
window.addEventListener("beforeunload", (event) => {
  if (dirty) event.preventDefault();
});
saveButton.addEventListener("click", save);
modeler.on("selection.changed", ({ newSelection }) => showSettings(newSelection.length === 1 ? newSelection[0] : null));
for (const field of settings.querySelectorAll("[data-property], [data-operation], [data-instructions]")) {
  field.addEventListener("change", () => writeSetting(field));
}
laneForm.querySelector("[data-lane-role]").addEventListener("change", (event) => {
  if (selected?.type !== "bpmn:Lane") return;
  const lane = selected.businessObject.name || "";
  commandStack.execute("riskflow.lane.role", { element: selected, lane, role: event.target.value || undefined });
});
// Said last: once it shows, every part of the editor answers (selection, settings, saving).
say(opened);

async function save() {
  const { xml } = await modeler.saveXML({ format: true });
  showErrors([]);
  const response = await fetch(root.dataset.saveDiagramUrl, {
    method: "PUT",
    headers: {
      "Content-Type": "application/json",
      "X-CSRFToken": root.dataset.csrf,
      "X-Draft-Revision": String(revision),
    },
    body: JSON.stringify({ xml, lanes }),
  });
  const answer = await response.json();
  if (response.ok) {
    revision = answer.revision;
    dirty = false;
    say("Saved in the draft. Check it on the draft page before publishing.");
    await markProblems();
  } else {
    say(`Not saved: ${answer.errors.length === 1 ? answer.errors[0].message : "fix the problems listed above the diagram."}`);
    showErrors(answer.errors);
  }
}

// The problems that stopped a save, as a GOV.UK error summary above the editor.
function showErrors(errors) {
  const box = document.getElementById("modeler-errors");
  box.hidden = errors.length === 0;
  const list = box.querySelector("ul");
  list.replaceChildren(
    ...errors.map((error) => {
      const item = document.createElement("li");
      item.textContent = error.message;
      return item;
    }),
  );
  if (errors.length) box.focus();
}

async function markProblems() {
  const canvas = modeler.get("canvas");
  const overlays = modeler.get("overlays");
  overlays.remove({ type: "riskflow-problem" });
  for (const element of registry.getAll()) canvas.removeMarker(element.id, "riskflow-problem");
  const problems = await (await fetch(root.dataset.problemsUrl)).json();
  for (const problem of problems) {
    if (!problem.element_id || !registry.get(problem.element_id)) continue;
    canvas.addMarker(problem.element_id, "riskflow-problem");
    const badge = document.createElement("span");
    badge.className = `riskflow-problem-badge riskflow-problem-badge--${problem.severity}`;
    badge.textContent = problem.severity === "error" ? "!" : "?";
    badge.title = problem.message;
    overlays.add(problem.element_id, "riskflow-problem", { position: { top: -10, left: -10 }, html: badge });
  }
}

// ---------------------------------------------------------------- riskflow's own settings

function extension(bo, type) {
  return (bo.extensionElements?.values || []).find((value) => value.$type === `${SPIFF}:${type}`);
}

function ensureExtension(element, type, attrs) {
  const bo = element.businessObject;
  let container = bo.extensionElements;
  if (!container) {
    container = moddle.create("bpmn:ExtensionElements", { values: [] });
    modeling.updateProperties(element, { extensionElements: container });
  }
  let found = extension(bo, type);
  if (!found) {
    found = moddle.create(`${SPIFF}:${type}`, attrs || {});
    found.$parent = container;
    modeling.updateModdleProperties(element, container, { values: [...container.values, found] });
  }
  return found;
}

function laneOf(element) {
  const bo = element.businessObject;
  const lane = registry.filter((e) => e.type === "bpmn:Lane").find((e) => (e.businessObject.flowNodeRef || []).includes(bo));
  return lane ? lane.businessObject.name || lane.id : "";
}

function roleWords(code) {
  return roleTitles[code] ? `${roleTitles[code]} (${code})` : `${code}, which riskflow does not know`;
}

// Show a value in a select even when it is not one of the choices (a form the bundle lacks, a
// point the policy does not have), so that what the model says is never hidden.
function choose(select, value) {
  for (const stray of select.querySelectorAll("option[data-stray]")) stray.remove();
  if (value && ![...select.options].some((option) => option.value === value)) {
    const option = new Option(`${value} (not one of the choices)`, value);
    option.dataset.stray = "";
    select.add(option);
  }
  select.value = value;
}

function showSettings(element) {
  selected = element && (element.type.endsWith("Task") || element.type === "bpmn:Lane") ? element : null;
  const isLane = selected?.type === "bpmn:Lane";
  settings.hidden = !selected || isLane;
  laneForm.hidden = !isLane;
  if (isLane) return showLane(selected);
  if (!selected) return;
  const bo = selected.businessObject;
  const isUserTask = selected.type === "bpmn:UserTask";
  const isService = selected.type === "bpmn:ServiceTask";
  settings.querySelector("[data-step-name]").textContent = bo.name || bo.id;
  const lane = laneOf(selected);
  const role = lanes[lane];
  settings.querySelector("[data-lane]").textContent = lane
    ? `${lane}, ${role ? roleWords(role) : "no grade yet: select the lane to choose one"}`
    : "Not in a lane";
  const properties = extension(bo, "properties")?.properties || [];
  for (const field of settings.querySelectorAll("[data-property]")) {
    const found = properties.find((p) => p.name === field.dataset.property);
    if (field.tagName === "SELECT") choose(field, found ? found.value : "");
    else field.value = found ? found.value : "";
    field.closest(".govuk-form-group").hidden = !isUserTask && field.dataset.property !== "expectedDuration";
  }
  const operation = settings.querySelector("[data-operation]");
  choose(operation, extension(bo, "serviceTaskOperator")?.id || "");
  operation.closest(".govuk-form-group").hidden = !isService;
  const instructions = settings.querySelector("[data-instructions]");
  instructions.value = extension(bo, "instructionsForEndUser")?.text || "";
  instructions.closest(".govuk-form-group").hidden = !isUserTask;
}

function showLane(element) {
  const name = element.businessObject.name || "";
  laneForm.querySelector("[data-lane-name]").textContent = name || "a lane with no name";
  const select = laneForm.querySelector("[data-lane-role]");
  choose(select, name ? lanes[name] || "" : "");
  select.disabled = !name; // a lane is matched by its name: name it first
}

function setLaneRole(lane, role) {
  if (role) lanes[lane] = role;
  else delete lanes[lane];
}

function writeSetting(field) {
  if (!selected || selected.type === "bpmn:Lane") return;
  const value = field.value.trim();
  let kind = "property";
  if (field.dataset.operation !== undefined) kind = "operation";
  if (field.dataset.instructions !== undefined) kind = "instructions";
  commandStack.execute("riskflow.setting.update", { element: selected, kind, name: field.dataset.property, value });
}

// The modeling commands one change of a setting is made of (run inside "riskflow.setting.update").
function applySetting({ element, kind, name, value }) {
  if (kind === "property") {
    const container = ensureExtension(element, "properties", { properties: [] });
    const existing = container.properties.find((p) => p.name === name);
    if (existing && value) {
      modeling.updateModdleProperties(element, existing, { value });
    } else if (existing) {
      modeling.updateModdleProperties(element, container, { properties: container.properties.filter((p) => p !== existing) });
    } else if (value) {
      const property = moddle.create(`${SPIFF}:property`, { name, value });
      property.$parent = container;
      modeling.updateModdleProperties(element, container, { properties: [...container.properties, property] });
    }
  } else if (kind === "operation") {
    const operator = ensureExtension(element, "serviceTaskOperator", {});
    modeling.updateModdleProperties(element, operator, { id: value });
  } else if (kind === "instructions") {
    const instructions = ensureExtension(element, "instructionsForEndUser", {});
    modeling.updateModdleProperties(element, instructions, { text: value });
  }
}
