/* riskflow's monitor diagrams: draw a deployed model in the bpmn-js navigated viewer, then add
   counts per step (badges and shading) or one instance's completed, current and failed steps.
   The numbers come from a JSON endpoint; the page's tables hold the same figures for anyone
   without JavaScript or a screen. The bpmn.io watermark is left as bpmn-js draws it. When a model cannot be drawn,
   a note says so and points to the tables. */
(function () {
  "use strict";

  async function draw(container) {
    const viewer = new window.BpmnJS({ container: container });
    const xml = await (await fetch(container.dataset.diagramUrl, { credentials: "same-origin" })).text();
    await viewer.importXML(xml);
    window.riskflowDiagram.show(viewer, container);
    return viewer;
  }

  function badge(text, kind) {
    const span = document.createElement("span");
    span.className = "riskflow-badge riskflow-badge--" + kind;
    span.textContent = text;
    return span;
  }

  async function counts(container) {
    const viewer = await draw(container);
    const data = await (await fetch(container.dataset.countsUrl, { credentials: "same-origin" })).json();
    const canvas = viewer.get("canvas");
    const overlays = viewer.get("overlays");
    const registry = viewer.get("elementRegistry");
    Object.entries(data.steps).forEach(function ([id, figures]) {
      if (!registry.get(id)) { return; }
      canvas.addMarker(id, "riskflow-heat-" + figures.heat);
      overlays.add(id, "riskflow-count", { position: { top: -12, left: -8 }, html: badge(String(figures.now), "now") });
      if (figures.overdue || figures.errors) {
        const late = figures.overdue + figures.errors;
        overlays.add(id, "riskflow-count", { position: { top: -12, right: 16 }, html: badge(late + " late", "late") });
      }
    });
    viewer.get("eventBus").on("element.click", function (event) {
      if (data.steps[event.element.id]) {
        window.location.href = container.dataset.stepUrl.replace("__step__", encodeURIComponent(event.element.id)) + "#at-step";
      }
    });
  }

  async function marks(container) {
    const viewer = await draw(container);
    const data = await (await fetch(container.dataset.marksUrl, { credentials: "same-origin" })).json();
    const canvas = viewer.get("canvas");
    const registry = viewer.get("elementRegistry");
    [["completed", "completed"], ["current", "current"], ["errored", "errored"]].forEach(function ([key, cls]) {
      (data[key] || []).forEach(function (id) {
        if (registry.get(id)) { canvas.addMarker(id, "riskflow-step-" + cls); }
      });
    });
  }

  /* A model may have no layout to draw (one written by hand, without diagram interchange), or the
     figures may not load: say so in place of the picture. The page's tables and lists hold the same
     information, so nothing is lost. */
  function cannotDraw(container) {
    return function () {
      container.textContent = "";
      const note = document.createElement("p");
      note.className = "govuk-body riskflow-diagram__note";
      note.textContent = "The diagram cannot be drawn for this process. " + container.dataset.fallback;
      container.appendChild(note);
    };
  }

  const diagram = document.getElementById("monitor-diagram");
  if (diagram && window.BpmnJS) { counts(diagram).catch(cannotDraw(diagram)); }
  const instance = document.getElementById("instance-diagram");
  if (instance && window.BpmnJS) { marks(instance).catch(cannotDraw(instance)); }
})();
