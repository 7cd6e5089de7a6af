// The decision table editor of a draft: dmn-js's modeler, opened on the file's decision table, saved
// back into the draft with the revision it was opened at (a newer save by someone else is refused,
// and nothing is overwritten). The page works without this script: the table form and the text
// editor edit the same file.
const root = document.getElementById("decision-editor");
const status = document.getElementById("decision-status");
const saveButton = document.getElementById("decision-save");

let revision = Number(root.dataset.revision);
let dirty = false;

function say(message) {
  status.textContent = message;
}

const editor = new window.DmnJS({ container: root });
window.riskflowDecisionEditor = editor; // for the browser tests

let opened = "Opened.";
try {
  const xml = await (await fetch(root.dataset.xmlUrl)).text();
  const { warnings } = await editor.importXML(xml);
  const table = editor.getViews().find((view) => view.type === "decisionTable");
  if (table) await editor.open(table);
  if (warnings.length) opened = `Opened, with ${warnings.length} warning(s) from the table reader.`;
} catch (error) {
  say(`The decision table could not be opened: ${error.message}. Use the table form or edit it as text.`);
  throw error;
}

editor.on("views.changed", watchChanges);
watchChanges();

function watchChanges() {
  const viewer = editor.getActiveViewer();
  if (viewer && !viewer.__riskflowWatched) {
    viewer.__riskflowWatched = true;
    viewer.on("commandStack.changed", () => {
      dirty = true;
      say("Unsaved changes.");
    });
  }
}

window.addEventListener("beforeunload", (event) => {
  if (dirty) event.preventDefault();
});

saveButton.addEventListener("click", async () => {
  const { xml } = await editor.saveXML({ format: true });
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
  } else {
    say(`Not saved: ${answer.errors.map((e) => e.message).join(" ")}`);
  }
});

// Said once every part of the editor answers (changes are noticed, saving works).
say(opened);
