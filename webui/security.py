"""Headers that every response carries: no framing, no sniffing, no assets from anywhere else."""

from __future__ import annotations

from flask import Flask, Response

SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'self'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "X-Frame-Options": "DENY",
}


def init_app(app: Flask) -> None:
    """Add the security headers to every response of `app`, error pages included."""
    app.after_request(add_security_headers)


def add_security_headers(response: Response) -> Response:
    """Set each security header unless a view chose its own."""
    for name, value in SECURITY_HEADERS.items():
        response.headers.setdefault(name, value)
    return response
