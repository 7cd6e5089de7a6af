"""Settings from the environment, checked once, with a message that says how to fix each mistake.

Every setting is an environment variable named RISKFLOW_*; `create_app` also takes the same names
in its config mapping, which wins over the environment (tests use that).
"""

from __future__ import annotations

import os
import re
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError

PROJECT_DIR = Path(__file__).resolve().parent.parent
SUPPORTED_BACKENDS = ("sqlite", "postgresql")
DEMO_KEY_FILE = "secret_key"
DEFAULT_DATABASE_FILE = "riskflow.db"
MAX_TRUSTED_PROXIES = 5
DEFAULT_IDLE_MINUTES = 30
MAX_IDLE_MINUTES = 8 * 60
DEFAULT_TEMPORARY_PASSWORD_HOURS = 72  # a reset on Friday afternoon still works on Monday morning
MAX_TEMPORARY_PASSWORD_HOURS = 14 * 24

DEFAULT_OIDC_USERNAME_CLAIM = "preferred_username"
DEFAULT_OIDC_LABEL = "your organisation's account"
OIDC_LABEL_LIMIT = 60
# Plain http to the identity provider only on this machine (a provider for development or tests).
LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})
CLAIM_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_.:-]{0,63}$")
DOMAIN_NAME = re.compile(r"^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)+$")

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}


class ConfigError(Exception):
    """A setting is missing or wrong; the message names it and says what to set."""


@dataclass(frozen=True)
class OidcSettings:
    """The area's identity provider, for signing in by OpenID Connect (webui.oidc)."""

    issuer: (
        str  # the provider's issuer; its discovery document is at <issuer>/.well-known/openid-configuration
    )
    client_id: str
    client_secret: str
    username_claim: str = DEFAULT_OIDC_USERNAME_CLAIM  # the claim naming the member of staff
    username_domain: str | None = None  # when set, the claim is an address at this domain
    label: str = DEFAULT_OIDC_LABEL  # the button says "Sign in with <label>"

    @property
    def discovery_url(self) -> str:
        return f"{self.issuer.rstrip('/')}/.well-known/openid-configuration"


@dataclass(frozen=True)
class Settings:
    """What a riskflow deployment is configured with."""

    database_url: str
    secret_key: str | None
    host: str
    port: int
    demo: bool
    processes_dir: Path
    instance_dir: Path
    trusted_proxies: int = 0  # reverse proxies in front whose X-Forwarded-For and -Proto are believed
    session_idle_minutes: int = 30  # a signed-in session unused this long is over
    temporary_password_hours: int = 72  # a temporary password not changed within this long no longer works
    oidc: OidcSettings | None = None  # the area's identity provider, when staff sign in through it
    local_sign_in: bool = True  # whether staff may sign in with a riskflow username and password

    @property
    def url(self) -> URL:
        """The database URL, parsed."""
        return make_url(self.database_url)

    @property
    def safe_database_url(self) -> str:
        """The database URL with any password hidden, for messages and logs."""
        return self.url.render_as_string(hide_password=True)

    @property
    def sqlite_path(self) -> Path | None:
        """The SQLite database file, or None for PostgreSQL and in-memory SQLite."""
        url = self.url
        if url.get_backend_name() != "sqlite" or url.database in (None, "", ":memory:"):
            return None
        return Path(str(url.database))

    def secret_key_for_app(self, *, testing: bool = False) -> str:
        """The key that signs sessions: set, or kept in the instance folder for a demo."""
        if self.secret_key:
            return self.secret_key
        if self.demo:
            return demo_secret_key(self.instance_dir)
        if testing:
            return secrets.token_hex(32)
        raise ConfigError(
            "RISKFLOW_SECRET_KEY is not set. Set it to a long random value, for example the output of\n"
            "  python3 -c 'import secrets; print(secrets.token_hex(32))'\n"
            "or set RISKFLOW_DEMO=true for a demonstration deployment."
        )


def load_settings(
    environ: Mapping[str, str] | None = None, overrides: Mapping[str, Any] | None = None
) -> Settings:
    """Read the settings from the environment (default os.environ), then apply overrides."""
    values: dict[str, Any] = dict(os.environ if environ is None else environ)
    values.update({k: v for k, v in (overrides or {}).items() if k.startswith("RISKFLOW_")})
    instance_dir = _path(values, "RISKFLOW_INSTANCE_DIR", PROJECT_DIR / "instance")
    default_url = f"sqlite:///{instance_dir / DEFAULT_DATABASE_FILE}"
    oidc = _oidc(values)
    local_sign_in = _flag(values, "RISKFLOW_LOCAL_SIGN_IN", default=True)
    if not local_sign_in and oidc is None:
        raise ConfigError(
            "RISKFLOW_LOCAL_SIGN_IN=false turns password sign-in off, but no identity provider is set up, so "
            "nobody could sign in. Set RISKFLOW_OIDC_ISSUER, RISKFLOW_OIDC_CLIENT_ID and "
            "RISKFLOW_OIDC_CLIENT_SECRET first, or leave RISKFLOW_LOCAL_SIGN_IN true."
        )
    return Settings(
        database_url=database_url(str(values.get("RISKFLOW_DATABASE_URL") or default_url)),
        secret_key=str(values.get("RISKFLOW_SECRET_KEY") or "") or None,
        host=str(values.get("RISKFLOW_HOST") or "127.0.0.1"),
        port=_port(values.get("RISKFLOW_PORT")),
        demo=_flag(values, "RISKFLOW_DEMO"),
        processes_dir=_path(values, "RISKFLOW_PROCESSES_DIR", PROJECT_DIR / "processes"),
        instance_dir=instance_dir,
        trusted_proxies=_trusted_proxies(values.get("RISKFLOW_TRUSTED_PROXIES")),
        session_idle_minutes=_idle_minutes(values.get("RISKFLOW_SESSION_IDLE_MINUTES")),
        temporary_password_hours=_temporary_password_hours(values.get("RISKFLOW_TEMPORARY_PASSWORD_HOURS")),
        oidc=oidc,
        local_sign_in=local_sign_in,
    )


def database_url(text: str) -> str:
    """Check a database URL; a plain postgres:// or postgresql:// URL gets the psycopg driver."""
    try:
        url = make_url(text)
    except ArgumentError:
        raise ConfigError(
            "RISKFLOW_DATABASE_URL is not a database URL. Use sqlite:///path/to/riskflow.db or "
            "postgresql+psycopg://user@host:5432/riskflow"
        ) from None
    if url.drivername in ("postgres", "postgresql"):
        url = url.set(drivername="postgresql+psycopg")
    if url.get_backend_name() not in SUPPORTED_BACKENDS:
        raise ConfigError(
            f"RISKFLOW_DATABASE_URL uses {url.get_backend_name()!r}; riskflow runs on SQLite or PostgreSQL "
            "(postgresql+psycopg://user@host:5432/riskflow)"
        )
    return url.render_as_string(hide_password=False)


def demo_secret_key(instance_dir: Path) -> str:
    """The demo deployment's key: made once, kept in instance/secret_key readable by its owner only."""
    path = instance_dir / DEMO_KEY_FILE
    if not path.exists():
        instance_dir.mkdir(parents=True, exist_ok=True)
        draft = path.with_name(f".{DEMO_KEY_FILE}.{os.getpid()}")
        fd = os.open(draft, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as file:
            file.write(secrets.token_hex(32) + "\n")
        try:
            os.link(draft, path)  # never replaces a key another process wrote first
        except FileExistsError:
            pass
        finally:
            draft.unlink()
    key = path.read_text().strip()
    if not key:
        raise ConfigError(f"{path} is empty: delete it and a new key will be made")
    return key


def _flag(values: Mapping[str, Any], name: str, *, default: bool = False) -> bool:
    raw = values.get(name)
    if isinstance(raw, bool):
        return raw
    text = str(raw or "").strip().lower()
    if not text:
        return default
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    raise ConfigError(f"{name} must be true or false, not {raw!r}")


def _oidc(values: Mapping[str, Any]) -> OidcSettings | None:
    """The identity provider's settings: none of them set, or all three that are needed."""
    names = ("RISKFLOW_OIDC_ISSUER", "RISKFLOW_OIDC_CLIENT_ID", "RISKFLOW_OIDC_CLIENT_SECRET")
    given = {name: str(values.get(name) or "").strip() for name in names}
    if not any(given.values()):
        for optional in (
            "RISKFLOW_OIDC_USERNAME_CLAIM",
            "RISKFLOW_OIDC_USERNAME_DOMAIN",
            "RISKFLOW_OIDC_LABEL",
        ):
            if str(values.get(optional) or "").strip():
                raise ConfigError(
                    f"{optional} is set but RISKFLOW_OIDC_ISSUER is not: set the identity provider's issuer, "
                    f"client id and secret too, or unset {optional}"
                )
        return None
    missing = [name for name in names if not given[name]]
    if missing:
        raise ConfigError(
            f"Signing in through an identity provider needs {', '.join(names)}; {', '.join(missing)} "
            f"{'is' if len(missing) == 1 else 'are'} not set"
        )
    issuer = given["RISKFLOW_OIDC_ISSUER"]
    parts = urlsplit(issuer)
    secure = parts.scheme == "https" or (parts.scheme == "http" and parts.hostname in LOOPBACK_HOSTS)
    if not (secure and parts.hostname) or parts.query or parts.fragment:
        raise ConfigError(
            f"RISKFLOW_OIDC_ISSUER must be the identity provider's issuer, an https:// address without a "
            f"query (its discovery document is at <issuer>/.well-known/openid-configuration), not {issuer!r}"
        )
    claim = str(values.get("RISKFLOW_OIDC_USERNAME_CLAIM") or "").strip() or DEFAULT_OIDC_USERNAME_CLAIM
    if not CLAIM_NAME.match(claim):
        raise ConfigError(
            f"RISKFLOW_OIDC_USERNAME_CLAIM must be the name of an ID token claim, such as preferred_username "
            f"or email, not {claim!r}"
        )
    domain = str(values.get("RISKFLOW_OIDC_USERNAME_DOMAIN") or "").strip().lower().lstrip("@") or None
    if domain is not None and not DOMAIN_NAME.match(domain):
        raise ConfigError(
            f"RISKFLOW_OIDC_USERNAME_DOMAIN must be a domain name such as cumbria.probation.example, "
            f"not {domain!r}"
        )
    label = " ".join(str(values.get("RISKFLOW_OIDC_LABEL") or "").split()) or DEFAULT_OIDC_LABEL
    if len(label) > OIDC_LABEL_LIMIT:
        raise ConfigError(
            f"RISKFLOW_OIDC_LABEL must be at most {OIDC_LABEL_LIMIT} characters (the button says "
            f"'Sign in with <label>'), not {len(label)}"
        )
    return OidcSettings(
        issuer=issuer,
        client_id=given["RISKFLOW_OIDC_CLIENT_ID"],
        client_secret=given["RISKFLOW_OIDC_CLIENT_SECRET"],
        username_claim=claim,
        username_domain=domain,
        label=label,
    )


def _port(raw: Any) -> int:
    if raw is None or raw == "":
        return 5000
    try:
        port = int(raw)
    except (TypeError, ValueError):
        port = 0
    if not 1 <= port <= 65535:
        raise ConfigError(f"RISKFLOW_PORT must be a port number from 1 to 65535, not {raw!r}")
    return port


def _trusted_proxies(raw: Any) -> int:
    text = str(raw if raw is not None else "").strip() or "0"
    if not (text.isascii() and text.isdigit() and int(text) <= MAX_TRUSTED_PROXIES):
        raise ConfigError(
            f"RISKFLOW_TRUSTED_PROXIES must be the number of reverse proxies in front of riskflow, "
            f"from 0 to {MAX_TRUSTED_PROXIES}, not {raw!r}"
        )
    return int(text)


def _idle_minutes(raw: Any) -> int:
    text = str(raw if raw is not None else "").strip() or str(DEFAULT_IDLE_MINUTES)
    if not (text.isascii() and text.isdigit() and 1 <= int(text) <= MAX_IDLE_MINUTES):
        raise ConfigError(
            "RISKFLOW_SESSION_IDLE_MINUTES must be how many minutes a signed-in session may sit unused, "
            f"from 1 to {MAX_IDLE_MINUTES} (a working day), not {raw!r}"
        )
    return int(text)


def _temporary_password_hours(raw: Any) -> int:
    text = str(raw if raw is not None else "").strip() or str(DEFAULT_TEMPORARY_PASSWORD_HOURS)
    if not (text.isascii() and text.isdigit() and 1 <= int(text) <= MAX_TEMPORARY_PASSWORD_HOURS):
        raise ConfigError(
            "RISKFLOW_TEMPORARY_PASSWORD_HOURS must be how many hours a temporary password set by "
            f"`riskflow staff reset-password` keeps working if not changed, from 1 to "
            f"{MAX_TEMPORARY_PASSWORD_HOURS} (two weeks), not {raw!r}"
        )
    return int(text)


def _path(values: Mapping[str, Any], name: str, default: Path) -> Path:
    raw = values.get(name)
    return Path(str(raw)).expanduser().resolve() if raw else default
