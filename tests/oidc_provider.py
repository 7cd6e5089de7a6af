"""A real OpenID provider for the sign-in tests: tests/oidc/provider.mjs (the certified `oidc-provider`
package, installed by `make setup` from package-lock.json) run by Node.js as a child process on a free
port of 127.0.0.1, and a browser's part of the flow driven over HTTP with requests.

Nothing here reaches the network: the provider, the app and the requests all stay on this machine.
Without node, or without the package, the tests fail and say what to install; they never skip.
"""

from __future__ import annotations

import json
import os
import selectors
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urljoin, urlsplit

import pytest
import requests
from flask.testing import FlaskClient

PROJECT = Path(__file__).resolve().parent.parent
SCRIPT = PROJECT / "tests" / "oidc" / "provider.mjs"
PACKAGE = PROJECT / "node_modules" / "oidc-provider" / "package.json"
READY_WITHIN = 30.0  # seconds for node to start the provider and say it is ready
APP = "http://localhost"  # the Flask test client's address
REDIRECT_URI = f"{APP}/sign-in/oidc/callback"
CLIENT_ID = "riskflow-test"
CLIENT_SECRET = "a-client-secret-for-the-tests-only"  # noqa: S105 - the test provider's synthetic client
MOST_REDIRECTS = 10


@dataclass(frozen=True)
class Provider:
    """A running provider: its issuer, and the settings that point riskflow at it."""

    issuer: str

    def settings(self, **more: Any) -> dict[str, Any]:
        return {
            "RISKFLOW_OIDC_ISSUER": self.issuer,
            "RISKFLOW_OIDC_CLIENT_ID": CLIENT_ID,
            "RISKFLOW_OIDC_CLIENT_SECRET": CLIENT_SECRET,
            **more,
        }


def node() -> str:
    """The node program, or a failure that says how to get it."""
    found = shutil.which(os.environ.get("RISKFLOW_NODE") or "node")
    if not found:
        pytest.fail(
            "node is missing: the OpenID Connect sign-in tests start a real OpenID provider with Node.js. "
            "Install Node.js 20 or newer (on Debian `apt-get install -y npm` brings it; .ci/run does), "
            "or set RISKFLOW_NODE to its path."
        )
    if not PACKAGE.exists():
        pytest.fail(
            f"{PACKAGE.parent} is missing: run `make setup`, which installs the npm packages "
            "(oidc-provider is a devDependency in package.json)."
        )
    return found


@contextmanager
def running_provider(
    accounts: dict[str, dict[str, Any]], *, claims_in_id_token: bool = False
) -> Iterator[Provider]:
    """Start the provider with these synthetic accounts (by subject) and riskflow's test client; wait
    for its ready line (bounded), check its discovery document answers, and stop it afterwards."""
    config = {
        "clients": [
            {"client_id": CLIENT_ID, "client_secret": CLIENT_SECRET, "redirect_uris": [REDIRECT_URI]}
        ],
        "accounts": accounts,
        "claimsInIdToken": claims_in_id_token,
    }
    with tempfile.TemporaryFile(mode="w+") as errors:
        process = subprocess.Popen(  # noqa: S603 - our own script, arguments we made
            [node(), str(SCRIPT), json.dumps(config)],
            cwd=PROJECT,
            stdout=subprocess.PIPE,
            stderr=errors,
            text=True,
        )
        try:
            issuer = _ready_line(process, errors)
            discovery = requests.get(f"{issuer}/.well-known/openid-configuration", timeout=10)
            assert discovery.json()["issuer"] == issuer
            yield Provider(issuer)
        finally:
            process.terminate()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
            assert process.stdout is not None
            process.stdout.close()


def _ready_line(process: subprocess.Popen[str], errors: Any) -> str:
    """The issuer from the provider's one line of JSON, waiting at most READY_WITHIN seconds."""
    assert process.stdout is not None
    deadline = time.monotonic() + READY_WITHIN
    with selectors.DefaultSelector() as selector:
        selector.register(process.stdout, selectors.EVENT_READ)
        while time.monotonic() < deadline:
            if selector.select(timeout=deadline - time.monotonic()):
                line = process.stdout.readline()
                if line:
                    return str(json.loads(line)["issuer"])
                break  # the process closed its output: it stopped
    process.kill()
    process.wait()
    errors.seek(0)
    pytest.fail(f"the OpenID provider did not start within {READY_WITHIN:.0f} s; it said:\n{errors.read()}")


def browser_to_app(provider: Provider, authorization_url: str, login: str | None) -> str:
    """Play the browser at the provider: follow its redirects, sign in as the account `login` (or
    cancel, when None) at its interaction, until it sends the browser back to the app; return that
    address."""
    browser = requests.Session()
    url = authorization_url
    for _ in range(MOST_REDIRECTS):
        if url.startswith(APP):
            return url
        path = urlsplit(url).path
        if path.startswith("/interaction/"):
            action = "login" if login is not None else "abort"
            response = browser.post(
                f"{url.rstrip('/')}/{action}", data={"login": login or ""}, allow_redirects=False, timeout=10
            )
        else:
            response = browser.get(url, allow_redirects=False, timeout=10)
        assert response.status_code in (302, 303), (url, response.status_code, response.text[:500])
        url = urljoin(url, response.headers["Location"])
    raise AssertionError(f"the provider never sent the browser back to the app (last at {url})")


def sign_in_through(
    client: FlaskClient, provider: Provider, login: str | None, *, start: str = "/sign-in/oidc"
) -> Any:
    """Press the identity provider's button in `client`, sign in at the provider as `login`, and
    return the app's answer to the provider's redirect back (not followed)."""
    return client.get(app_path(callback_url(client, provider, login, start=start)))


def callback_url(
    client: FlaskClient, provider: Provider, login: str | None, *, start: str = "/sign-in/oidc"
) -> str:
    """The address the provider sends `client` back to after signing in as `login`."""
    response = client.get(start)
    assert response.status_code == 302, response.get_data(as_text=True)
    location = response.headers["Location"]
    assert location.startswith(f"{provider.issuer}/"), location
    return browser_to_app(provider, location, login)


def app_path(url: str) -> str:
    """The path and query of an address on the app, for the test client."""
    parts = urlsplit(url)
    return f"{parts.path}?{parts.query}" if parts.query else parts.path
