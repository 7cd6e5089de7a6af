"""The front-end packages riskflow serves itself: copied from node_modules, never from a CDN.

`python -m webui.vendor` (run by `make setup` after `npm ci --ignore-scripts`) copies an allow-list
of files from each npm package into the git-ignored webui/static/vendor/<name>-<version>/, and
compiles GOV.UK Frontend and MOJ Frontend Sass together with Arial (riskflow is not a
service.gov.uk service: no GDS Transport font, no crown or crest). Versions come from
package-lock.json, so the URLs change whenever a package does and browsers may cache them long.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from flask import Flask, url_for

from webui.config import PROJECT_DIR

VENDOR_DIR = Path(__file__).resolve().parent / "static" / "vendor"
LOCK_FILE = PROJECT_DIR / "package-lock.json"
NODE_MODULES = PROJECT_DIR / "node_modules"
SETUP_HINT = "run `make setup` (it needs Node 20 and npm) to install and copy the front-end packages"


@dataclass(frozen=True)
class Package:
    """An npm package and the files riskflow takes from it (glob patterns, relative to `root`)."""

    npm_name: str
    root: str
    files: tuple[str, ...]


PACKAGES = {
    "govuk-frontend": Package("govuk-frontend", "dist/govuk", ("govuk-frontend.min.js",)),
    "moj-frontend": Package(
        "@ministryofjustice/frontend",
        "moj",
        ("moj-frontend.min.js", "assets/images/icon-*.svg", "assets/images/icon-*.png"),
    ),
    # The pre-built diagram bundles (global BpmnJS: the navigated viewer for reading, the modeler
    # for editing) and their stylesheets; the licence travels with them (its watermark clause: the
    # bpmn.io link must stay visible on every diagram).
    "bpmn-js": Package(
        "bpmn-js",
        ".",
        (
            "dist/bpmn-navigated-viewer.production.min.js",
            "dist/bpmn-modeler.production.min.js",
            "dist/assets/diagram-js.css",
            "dist/assets/bpmn-js.css",
            "dist/assets/bpmn-font/css/bpmn-embedded.css",
            "LICENSE",
        ),
    ),
    # The properties panel for the modeler's generic fields (global BpmnJSPropertiesPanel) and
    # its stylesheet, which ships in a package of its own.
    "bpmn-js-properties-panel": Package(
        "bpmn-js-properties-panel", ".", ("dist/bpmn-js-properties-panel.umd.js", "LICENSE")
    ),
    "properties-panel": Package(
        "@bpmn-io/properties-panel", ".", ("dist/assets/properties-panel.css", "LICENSE")
    ),
    # The decision table editor (global DmnJS) and its stylesheets, for process owners who prefer
    # it to riskflow's own table form; the same watermark clause as bpmn-js.
    "dmn-js": Package(
        "dmn-js",
        ".",
        (
            "dist/dmn-modeler.production.min.js",
            "dist/assets/diagram-js.css",
            "dist/assets/dmn-js-shared.css",
            "dist/assets/dmn-js-drd.css",
            "dist/assets/dmn-js-decision-table.css",
            "dist/assets/dmn-js-decision-table-controls.css",
            "dist/assets/dmn-js-literal-expression.css",
            "dist/assets/dmn-font/css/dmn-embedded.css",
            "LICENSE",
        ),
    ),
    "htmx": Package("htmx.org", "dist", ("htmx.min.js",)),
}
# The stylesheet compiled from both design systems' Sass.
STYLESHEET = "frontend-css"
STYLESHEET_FILE = "frontend.min.css"


class VendorError(Exception):
    """The front-end packages are missing or out of step with package-lock.json."""


@cache
def locked_versions() -> dict[str, str]:
    """Each vendored package's version, as package-lock.json pins it."""
    try:
        lock = json.loads(LOCK_FILE.read_text())
    except FileNotFoundError:
        raise VendorError(f"{LOCK_FILE} is missing: {SETUP_HINT}") from None
    installed = lock.get("packages", {})
    versions = {name: installed[f"node_modules/{p.npm_name}"]["version"] for name, p in PACKAGES.items()}
    versions[STYLESHEET] = f"{versions['govuk-frontend']}-moj-{versions['moj-frontend']}"
    return versions


def folder(name: str) -> str:
    """The folder of a vendored package under static/vendor, with its version in the name."""
    return f"{name}-{locked_versions()[name]}"


def vendor_url(name: str, path: str) -> str:
    """The URL of a vendored file, e.g. vendor_url('govuk-frontend', 'govuk-frontend.min.js')."""
    return url_for("static", filename=f"vendor/{folder(name)}/{path}")


def layout_files() -> list[Path]:
    """The vendored files every page loads (the design systems' scripts and the stylesheet)."""
    return [
        VENDOR_DIR / folder("govuk-frontend") / "govuk-frontend.min.js",
        VENDOR_DIR / folder("moj-frontend") / "moj-frontend.min.js",
        VENDOR_DIR / folder("htmx") / "htmx.min.js",
        VENDOR_DIR / folder(STYLESHEET) / STYLESHEET_FILE,
    ]


def viewer_files() -> list[Path]:
    """The files a page with a read-only process diagram loads (the bpmn-js navigated viewer);
    the licence last, as it must travel with them."""
    root = VENDOR_DIR / folder("bpmn-js")
    return [
        root / "dist" / "bpmn-navigated-viewer.production.min.js",
        root / "dist" / "assets" / "diagram-js.css",
        root / "dist" / "assets" / "bpmn-js.css",
        root / "LICENSE",
    ]


def modeler_files() -> list[Path]:
    """The files the diagram editor loads besides the stylesheets above (the modeler, its icon
    font and the properties panel)."""
    return [
        VENDOR_DIR / folder("bpmn-js") / "dist" / "bpmn-modeler.production.min.js",
        VENDOR_DIR / folder("bpmn-js") / "dist" / "assets" / "bpmn-font" / "css" / "bpmn-embedded.css",
        VENDOR_DIR / folder("bpmn-js-properties-panel") / "dist" / "bpmn-js-properties-panel.umd.js",
        VENDOR_DIR / folder("properties-panel") / "dist" / "assets" / "properties-panel.css",
    ]


def decision_editor_files() -> list[Path]:
    """The files the decision table editor (dmn-js) loads; the licence last."""
    root = VENDOR_DIR / folder("dmn-js")
    return [
        root / "dist" / "dmn-modeler.production.min.js",
        *(
            root / "dist" / "assets" / name
            for name in (
                "diagram-js.css",
                "dmn-js-shared.css",
                "dmn-js-drd.css",
                "dmn-js-decision-table.css",
                "dmn-js-decision-table-controls.css",
                "dmn-js-literal-expression.css",
                "dmn-font/css/dmn-embedded.css",
            )
        ),
        root / "LICENSE",
    ]


def diagram_files() -> list[Path]:
    """Every vendored file of the diagram pages."""
    return viewer_files() + modeler_files() + decision_editor_files()


def expected_files() -> list[Path]:
    """Every vendored file some page loads (the set-up check and the tests use this list)."""
    return layout_files() + diagram_files()


def missing_files() -> list[Path]:
    """The vendored files that are not there (empty when set-up has run)."""
    return [path for path in expected_files() if not path.is_file()]


def init_app(app: Flask) -> None:
    """Make `vendor_url` available to templates; long caching is safe as URLs carry versions."""
    app.add_template_global(vendor_url)


def vendor() -> list[Path]:
    """Copy the allow-listed files and compile the stylesheet; return what was written."""
    if not NODE_MODULES.is_dir():
        raise VendorError(f"{NODE_MODULES} is missing: run `npm ci --ignore-scripts` first")
    written: list[Path] = []
    for name, package in PACKAGES.items():
        source = NODE_MODULES / package.npm_name / package.root
        target = VENDOR_DIR / folder(name)
        for pattern in package.files:
            matches = sorted(source.glob(pattern))
            if not matches:
                raise VendorError(f"{package.npm_name} has no {package.root}/{pattern}: {SETUP_HINT}")
            for file in matches:
                destination = target / file.relative_to(source)
                destination.parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(file, destination)
                written.append(destination)
    written.append(compile_stylesheet())
    _remove_old_versions()
    return written


def compile_stylesheet() -> Path:
    """GOV.UK Frontend and MOJ Frontend Sass in one stylesheet, set in Arial (MOJ first, as it must be)."""
    assets = f"/static/vendor/{folder('moj-frontend')}/assets/"
    source = (
        '@use "node_modules/@ministryofjustice/frontend/moj/all" as moj with (\n'
        f'  $moj-font-family: (arial, sans-serif), $moj-assets-path: "{assets}");\n'
        '@use "node_modules/govuk-frontend/dist/govuk" as govuk;\n'
    )
    target = VENDOR_DIR / folder(STYLESHEET) / STYLESHEET_FILE
    target.parent.mkdir(parents=True, exist_ok=True)
    sass = NODE_MODULES / ".bin" / "sass"
    command = [str(sass), "--stdin", "--load-path=.", "--style=compressed", "--quiet-deps", "--no-source-map"]
    result = subprocess.run(  # noqa: S603 - our own fixed command line
        [*command, str(target)], input=source, text=True, cwd=PROJECT_DIR, capture_output=True, check=False
    )
    if result.returncode != 0:
        raise VendorError(f"compiling the GOV.UK and MOJ Frontend Sass failed:\n{result.stderr.strip()}")
    return target


def _remove_old_versions() -> None:
    keep = {folder(name) for name in (*PACKAGES, STYLESHEET)}
    for path in VENDOR_DIR.iterdir():
        if path.is_dir() and path.name not in keep:
            shutil.rmtree(path)


def main() -> None:
    """Vendor the front-end packages, or say what is wrong and exit 1."""
    try:
        written = vendor()
    except VendorError as err:
        print(f"vendor: {err}", file=sys.stderr)  # noqa: T201
        sys.exit(1)
    print(f"vendor: {len(written)} file(s) in {VENDOR_DIR}")  # noqa: T201


if __name__ == "__main__":
    main()
