"""Headers that every response carries: no framing, no sniffing, no assets from anywhere else.

Scripts run only from this site or, for the one inline script the GOV.UK page template needs (it
marks the body `govuk-frontend-supported`), with the nonce made for this response.
"""

from __future__ import annotations

import secrets

from flask import Flask, Response, g

SECURITY_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "X-Frame-Options": "DENY",
}


def init_app(app: Flask) -> None:
    """Add the security headers to every response of `app`, error pages included."""
    app.after_request(add_security_headers)
    app.add_template_global(csp_nonce)


def csp_nonce() -> str:
    """This response's script nonce (made on first use)."""
    nonce: str | None = g.get("csp_nonce")
    if nonce is None:
        nonce = g.csp_nonce = secrets.token_urlsafe(16)
    return nonce


def allow_diagram_styles() -> None:
    """Let this response's page run the bpmn-js diagram editor, which sets style attributes on
    the elements it draws and embeds its icon font as a data URL. Scripts stay as strict."""
    g.csp_diagram = True


def content_security_policy(nonce: str | None, *, diagram: bool = False) -> str:
    """Only this site's assets; inline script only with `nonce`; no framing, no plugins."""
    scripts = f"'self' 'nonce-{nonce}'" if nonce else "'self'"
    diagram_sources = "style-src 'self' 'unsafe-inline'; font-src 'self' data:; " if diagram else ""
    return (
        f"default-src 'self'; script-src {scripts}; {diagram_sources}img-src 'self' data:; "
        "object-src 'none'; base-uri 'self'; form-action 'self'; frame-ancestors 'none'"
    )


def add_security_headers(response: Response) -> Response:
    """Set each security header unless a view chose its own."""
    policy = content_security_policy(g.get("csp_nonce"), diagram=bool(g.get("csp_diagram")))
    response.headers.setdefault("Content-Security-Policy", policy)
    for name, value in SECURITY_HEADERS.items():
        response.headers.setdefault(name, value)
    return response
