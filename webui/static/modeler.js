// The diagram editor of a draft: bpmn-js's modeler with its properties panel for the generic fields
// (name, documentation, conditions), and riskflow's own settings form for the step properties the
// engine reads (due time, follow-up, expected duration, priority, form, instructions, operation).
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

modeler.on("commandStack.changed", () => {
  dirty = true;
  say("Unsaved changes.");
});
window.addEventListener("beforeunload", (event) => {
  if (dirty) event.preventDefault();
});
saveButton.addEventListener("click", save);
modeler.on("selection.changed", ({ newSelection }) => showSettings(newSelection.length === 1 ? newSelection[0] : null));
for (const field of settings.querySelectorAll("[data-property], [data-operation], [data-instructions]")) {
  field.addEventListener("change", () => writeSetting(field));
}
// Said last: once it shows, every part of the editor answers (selection, settings, saving).
say(opened);

async function save() {
  const { xml } = await modeler.saveXML({ format: true });
  const response = await fetch(root.dataset.saveUrl, {
    method: "PUT",
    headers: {
      "Content-Type": "application/xml",
      "X-CSRFToken": root.dataset.csrf,
      "X-Draft-Revision": String(revision),
    },
    body: xml,
  });
  const answer = await response.json();
  if (response.ok) {
    revision = answer.revision;
    dirty = false;
    say("Saved in the draft. Check it on the draft page before publishing.");
    await markProblems();
  } else {
    say(`Not saved: ${answer.errors.map((e) => e.message).join(" ")}`);
  }
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

function showSettings(element) {
  selected = element && element.type.endsWith("Task") ? element : null;
  settings.hidden = !selected;
  if (!selected) return;
  const bo = selected.businessObject;
  const isUserTask = selected.type === "bpmn:UserTask";
  const isService = selected.type === "bpmn:ServiceTask";
  settings.querySelector("[data-step-name]").textContent = bo.name || bo.id;
  const lane = laneOf(selected);
  const role = lane ? JSON.parse(root.dataset.lanes)[lane] : null;
  settings.querySelector("[data-lane]").textContent = lane ? `${lane}${role ? ` (role ${role})` : " (no role: add the lane to lanes.json)"}` : "Not in a lane";
  const properties = extension(bo, "properties")?.properties || [];
  for (const field of settings.querySelectorAll("[data-property]")) {
    const found = properties.find((p) => p.name === field.dataset.property);
    field.value = found ? found.value : "";
    field.closest(".govuk-form-group").hidden = !isUserTask && field.dataset.property !== "expectedDuration";
  }
  const operation = settings.querySelector("[data-operation]");
  operation.value = extension(bo, "serviceTaskOperator")?.id || "";
  operation.closest(".govuk-form-group").hidden = !isService;
  const instructions = settings.querySelector("[data-instructions]");
  instructions.value = extension(bo, "instructionsForEndUser")?.text || "";
  instructions.closest(".govuk-form-group").hidden = !isUserTask;
}

function writeSetting(field) {
  if (!selected) return;
  const value = field.value.trim();
  if (field.dataset.property) {
    const container = ensureExtension(selected, "properties", { properties: [] });
    const existing = container.properties.find((p) => p.name === field.dataset.property);
    if (existing && value) {
      modeling.updateModdleProperties(selected, existing, { value });
    } else if (existing) {
      modeling.updateModdleProperties(selected, container, { properties: container.properties.filter((p) => p !== existing) });
    } else if (value) {
      const property = moddle.create(`${SPIFF}:property`, { name: field.dataset.property, value });
      property.$parent = container;
      modeling.updateModdleProperties(selected, container, { properties: [...container.properties, property] });
    }
  } else if (field.dataset.operation !== undefined) {
    const operator = ensureExtension(selected, "serviceTaskOperator", {});
    modeling.updateModdleProperties(selected, operator, { id: value });
  } else if (field.dataset.instructions !== undefined) {
    const instructions = ensureExtension(selected, "instructionsForEndUser", {});
    modeling.updateModdleProperties(selected, instructions, { text: value });
  }
}
