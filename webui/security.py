"""Headers that every response carries: no framing, no sniffing, no assets from anywhere else, no
copies of case data kept by a browser or proxy, and HTTPS only once a browser has met it.

Scripts run only from this site or, for the one inline script the GOV.UK page template needs (it
marks the body `govuk-frontend-supported`), with the nonce made for this response.

Every response but the static assets (stylesheets, scripts, fonts: the same for everyone) says
`Cache-Control: no-store`, so a page or API answer with case data is never kept on disk by the
browser or by a proxy, and the back button after signing out does not show it again. A response
that came over HTTPS (`request.is_secure`) also says `Strict-Transport-Security`, so the browser
uses only HTTPS for this host for a year; over plain HTTP the header would mean nothing and is not
sent.
"""

from __future__ import annotations

import secrets

from flask import Flask, Response, g, request

SECURITY_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "X-Frame-Options": "DENY",
    "Cross-Origin-Opener-Policy": "same-origin",
}
NO_STORE = "no-store"
STRICT_TRANSPORT_SECURITY = "max-age=31536000"  # a year; subdomains are not riskflow's to decide
# Endpoints whose responses hold nothing personal, so a browser may keep them.
CACHEABLE_ENDPOINTS = frozenset({"static"})


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
    if request.endpoint not in CACHEABLE_ENDPOINTS:
        response.headers["Cache-Control"] = NO_STORE
    if request.is_secure:
        response.headers.setdefault("Strict-Transport-Security", STRICT_TRANSPORT_SECURITY)
    return response
