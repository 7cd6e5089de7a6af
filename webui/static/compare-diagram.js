/* The comparison of two versions on the newer version's diagram: steps added and changed are
   marked (with a word in a badge, not colour alone); the lists on the page say the same in full.
   The bpmn.io watermark is left as bpmn-js draws it. */
(async function () {
  "use strict";
  const container = document.getElementById("compare-canvas");
  if (!container) { return; }
  const viewer = new window.BpmnJS({ container: container });
  const xml = await (await fetch(container.dataset.diagramUrl, { credentials: "same-origin" })).text();
  await viewer.importXML(xml);
  window.riskflowDiagram.show(viewer, container);
  const canvas = viewer.get("canvas");
  const overlays = viewer.get("overlays");
  const registry = viewer.get("elementRegistry");
  const marks = JSON.parse(container.dataset.marks);
  Object.entries(marks).forEach(function ([kind, ids]) {
    ids.forEach(function (id) {
      if (!registry.get(id)) { return; }
      canvas.addMarker(id, "riskflow-" + kind);
      const badge = document.createElement("span");
      badge.className = "riskflow-badge riskflow-badge--" + kind;
      badge.textContent = kind === "added" ? "New" : "Changed";
      overlays.add(id, "riskflow-compare", { position: { top: -12, left: -8 }, html: badge });
    });
  });
})();
