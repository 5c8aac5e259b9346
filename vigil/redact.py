"""Masking of secrets, by pattern and by value; and target text made inert.

Two layers of masking, both applied where text from a target enters a check's record
(`vigil/plugin/failure.py`), so every output (terminal, JUnit, Allure, report files, metrics)
shows the same masked text:

- **Patterns** (`redact_text`, `redact_url`), for secrets nobody configured: a URL's password
  (`scheme://user:secret@host`, even when the password holds a raw `/`, `?`, `#`, `@` or `:`),
  credential-like query parameters (`?token=`, `&X-Amz-Signature=`, `&key=`...), libpq's
  `password=`, `Bearer`/`Basic` credentials, `"password": "..."`.
- **Values** (`Redactor`), for secrets the environment files hold: every value that came from
  `${VAR}` and everything `configured_secrets` finds in a validated file (URL and DSN
  passwords, header values, credential query parameters, fields named like secrets,
  webhook URLs). Each is masked in every encoding it may come back in: raw, percent-encoded
  (`quote`, `quote_plus`, either hex case), JSON-, HTML- and repr-escaped, and base64
  (standard and URL-safe, in all three byte alignments, so a secret inside a larger encoded
  text, such as `Basic base64(user:password)`, is caught).

Values shorter than `MIN_SECRET_CHARS` (4) are not masked by value (a one-letter password
would mask every "a" of every report); the patterns still mask them where they stand in a
URL or a `password=`. Base64 forms are matched on runs of at least `MIN_BASE64_CHARS` (8)
base64 characters, so a value shorter than 6 bytes is masked in base64 only as a whole
encoded value, and one of 6 or 7 bytes only when it starts the encoded text.
"""

from __future__ import annotations

import base64
import binascii
import html
import json
import re
from collections.abc import Iterable, Mapping
from typing import Any
from urllib.parse import quote, quote_plus, unquote, unquote_plus

MASK = "***"
MIN_SECRET_CHARS = 4
MIN_BASE64_CHARS = 8

_SCHEME = r"[a-zA-Z][a-zA-Z0-9+.\-]*://"
_STOP = r"\s\"'<>`"  # what ends a URL written in prose, JSON or a shell line
# The password runs to the LAST `@` before the end of the URL, as a person meant it even
# when it holds a raw `/`, `?` or `#` (parsers stop at those and print its start as a bad
# port). Unless what follows the colon is a port (`host:8080/x?mail=a@b`): then no password.
_URL_PASSWORD = re.compile(
    rf"(?P<head>{_SCHEME}[^/{_STOP}:@]*):(?P<secret>(?!\d+(?:[/?#{_STOP}]|$)|/)[^{_STOP}]*)@"
)
_URL_TOKEN_ONLY = re.compile(rf"(?P<head>{_SCHEME})(?P<secret>[^/{_STOP}:@]+)@")
# Query parameters named like credentials: `token`, `access_token`, `key`, `api_key`, `sig`,
# `X-Amz-Signature`, `X-Amz-Credential`, `password`, `client_secret`... (case-insensitive).
_QUERY_NAME = (
    r"(?:[\w.~-]*[_.-])?(?:password|passwd|pwd|pass|token|secret|key|apikey|sig|signature"
    r"|credentials?|auth|jwt|session|sessionid)"
)
_QUERY_SECRET = re.compile(
    rf"(?P<head>[?&;#]{_QUERY_NAME}=)(?P<secret>(?!\*\*\*(?:[&#]|$))[^&#{_STOP}]+)", re.IGNORECASE
)
_QUERY_PAIR = re.compile(r"[?&;#]([^=&#?;]+)=([^&#]*)")
# `password=`, `access_token=`, `X-Api-Key:`, `'password': '...'`: any key ending in a secret
# word. A quoted value may hold escaped quotes (libpq); an unquoted one runs to the next white
# space, since libpq values may contain `;`, `&` or `,` (masking a little more is harmless).
# `key: value` counts only for a quoted key or an API-key header, so that prose such as
# "JWT_SECRET: 2 different values" or "secret/api-token: does not exist" stays readable.
_SECRET_KEY = r"(?:[\w.-]*[_.-])?(?:password|passwd|pwd|token|secret|api[_-]?key|sslpassword)"
_KEYWORD = re.compile(
    rf"(?P<head>\b{_SECRET_KEY}\s*=\s*|['\"]{_SECRET_KEY}['\"]\s*:\s*"
    r"|\b(?:[\w-]*-)?api[_-]?key\s*:\s*)"
    r"(?!\*\*\*(?:[&#;\s]|$))"  # already masked (a query parameter)
    r"(?P<secret>'(?:[^'\\]|\\.)*'|\"(?:[^\"\\]|\\.)*\"|[^\s]+)",
    re.IGNORECASE,
)
_BEARER = re.compile(r"(?P<head>\b(?:Bearer|Basic)\s+)(?P<secret>[A-Za-z0-9._~+/=\-]{8,})")
# URL parsers quote the port they could not read; for a password with a raw `/`, `?` or `#`
# that is the password's start. httpx: "Invalid port: 'p4ss'"; urllib: "Port could not be cast
# to integer value as 'p4ss'"; libpq: 'invalid port number: "p4ss"', 'invalid integer value
# "p4ss" for connection option "port"'. A port that is a number stays.
_BAD_PORT = re.compile(
    r"(?P<head>\b(?:invalid port(?: number)?:?|port could not be cast to integer value as)\s*"
    r"(?P<q>['\"]))(?!\d+(?P=q))[^'\"\n]*(?P=q)"
    r"|(?P<head2>\binvalid integer value\s*(?P<q2>['\"]))[^'\"\n]*(?P=q2)"
    r"(?=\s*for connection option\s*['\"]port)",
    re.IGNORECASE,
)


# Words without which a pattern cannot match: a text holding none of them skips the pattern
# (the patterns scan from every word boundary; most report lines hold no credential at all).
_SECRET_WORDS = ("pass", "pwd", "token", "secret", "key", "sig", "cred", "auth", "jwt", "session")
_KEYWORD_WORDS = ("pass", "pwd", "token", "secret", "key")


_PROBE_SECRETS: list[Redactor] = []  # the run's secrets, for text probes cut short


def mask_in_probes(redactor: Redactor | None) -> None:
    """Make `redact_text` mask the run's configured secrets by value too (None: stop). Set
    when a run loads its environments, before the probe process forks: probes cut what a
    target sent (a 300-character body excerpt, a 200-character error) and a secret astride
    the cut could no longer be found whole afterwards."""
    _PROBE_SECRETS[:] = [redactor] if redactor is not None else []


def redact_text(text: str) -> str:
    """Mask URL passwords, credential query parameters, `password=` style keywords, bearer
    tokens and the unreadable ports parsers quote (a password's start) in any text; and the
    run's configured secrets by value (`mask_in_probes`)."""
    if _PROBE_SECRETS:
        text = _PROBE_SECRETS[0].mask(text)
    return _patterns(text)


def _patterns(text: str) -> str:
    # Folded as IGNORECASE reads letters: the long s, the Kelvin sign, the dotless i.
    lower = text.casefold().replace("\u0131", "i")
    if "://" in text:
        text = _URL_PASSWORD.sub(lambda m: f"{m['head']}:{MASK}@", text)
    if "=" in text and any(word in lower for word in _SECRET_WORDS):
        text = _QUERY_SECRET.sub(lambda m: f"{m['head']}{MASK}", text)
    if ("=" in text or ":" in text) and any(word in lower for word in _KEYWORD_WORDS):
        text = _KEYWORD.sub(lambda m: f"{m['head']}{MASK}", text)
    if "port" in lower:
        text = _BAD_PORT.sub(_masked_port, text)
    if "bearer" in lower or "basic" in lower:
        text = _BEARER.sub(lambda m: f"{m['head']}{MASK}", text)
    return text


def _masked_port(match: re.Match[str]) -> str:
    if match["head"]:
        return f"{match['head']}{MASK}{match['q']}"
    return f"{match['head2']}{MASK}{match['q2']}"


def redact_url(url: str) -> str:
    """A URL with its password masked; a user name alone (`redis://token@host`) is masked too."""
    masked = _URL_PASSWORD.sub(lambda m: f"{m['head']}:{MASK}@", url)
    if masked == url:
        masked = _URL_TOKEN_ONLY.sub(lambda m: f"{m['head']}{MASK}@", url)
    return redact_text(masked)


_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u2028\u2029]")


def inert(text: str, *, newlines: bool = True) -> str:
    """Text from a target made harmless for a terminal: control characters (ESC, C1, bell,
    carriage return...) shown as `\\x1b`-style escapes; newlines and tabs kept if `newlines`."""
    cleaned = _CONTROL.sub(lambda m: f"\\x{ord(m.group()):02x}", text)
    if not newlines:
        cleaned = cleaned.replace("\n", " ").replace("\t", " ")
    return cleaned


# --- what an environment file configures as secret -------------------------------------------

# Settings fields whose whole value is a credential (today's and the notifiers': a PagerDuty
# `routing_key`, a Slack `webhook_url`), matched on the field's name, never on a free-form key.
_SECRET_FIELD = re.compile(
    r"(?:^|[_-])(?:password|passwd|pwd|token|secret|key|apikey|credentials?|webhook_url)$",
    re.IGNORECASE,
)
# Request headers that carry content negotiation, never a credential; every other configured
# header value (Authorization, Cookie, X-Auth, X-Vault-Token, X-Api-Key...) is a secret.
_PLAIN_HEADERS = frozenset(
    {"accept", "accept-encoding", "accept-language", "cache-control", "connection",
     "content-type", "pragma", "user-agent"}
)  # fmt: skip
_URL = re.compile(rf"{_SCHEME}[^{_STOP}]+")
_LIBPQ_PAIR = re.compile(r"(\w+)\s*=\s*('(?:[^'\\]|\\.)*'?|(?:[^\s'\\]|\\.)+)")
_WEB_SCHEMES = ("http", "https", "ws", "wss")


def configured_secrets(settings: Any) -> set[str]:
    """Every secret an environment's validated settings (a pydantic model) hold, to be masked
    by value in every output: URL and DSN passwords (libpq keyword DSNs too), a token written
    as a whole URL userinfo and `user:password` of web URLs (what a Basic header encodes),
    credential-like query parameters of any URL, the values of `headers:` (but content
    negotiation ones), fields named like a secret (`*_token`, `routing_key`...) and URLs
    under a `webhook` field. Values may be short or repeated: `Redactor` decides."""
    found: set[str] = set()
    stack: list[tuple[Any, tuple[str, ...]]] = [(settings, ())]
    while stack:  # a loop, not recursion: a free-form value (`expect_json`) may be deep
        node, path = stack.pop()
        fields = getattr(type(node), "model_fields", None)
        if isinstance(fields, Mapping):
            stack += [(getattr(node, name, None), (*path, name)) for name in fields]
        elif isinstance(node, Mapping):
            if path and path[-1] == "headers":
                for name, value in node.items():
                    found |= header_secrets(str(name), str(value))
            else:  # free-form keys are data (a secret's name, a queue), not field names
                stack += [(value, path) for value in node.values()]
        elif isinstance(node, list | tuple | set | frozenset):
            stack += [(item, path) for item in node]
        elif isinstance(node, str):
            field = path[-1] if path else ""
            if _SECRET_FIELD.search(field) or ("://" in node and any("webhook" in p for p in path)):
                found.add(node)
            found |= connection_secrets(node)
    found.discard("")
    return found


def connection_secrets(text: str) -> set[str]:
    """The passwords and tokens of every URL in `text`, and of a libpq keyword DSN."""
    found: set[str] = set()
    for url in _URL.findall(text):
        found |= _url_secrets(url)
    for key, value in _LIBPQ_PAIR.findall(text):
        if key.lower() in ("password", "sslpassword"):
            inner = value
            if value.startswith("'"):  # quoted: `\'` and `\\` escaped; the end quote may be cut
                inner = value[1:-1] if len(value) > 1 and value.endswith("'") else value[1:]
            found |= {value, inner, re.sub(r"\\(.)", r"\1", inner)}
    return found


def raw_reserved_password(url: str) -> bool:
    """True when a URL's password, as its author meant it, holds a raw `/`, `?` or `#` that
    URL parsers stop at: they then read pieces of the password as the port, the path or the
    query (and print them in their errors), so the URL must not be handed to one."""
    netloc, _, meant = _readings(url)
    password = meant.partition(":")[2]
    if not password or not re.search(r"[/?#]", password):
        return False
    port = netloc.rpartition("@")[2].rpartition(":")[2]
    return "@" not in netloc or not (port.isdigit() or port == "")


def _readings(url: str) -> tuple[str, str, str]:
    """A URL's authority as parsers read it (up to the first `/`, `?` or `#`), its userinfo
    as they read it, and its userinfo as a person meant it when the password holds a raw `/`,
    `?` or `#` (up to the URL's last `@`; empty for `host:port/path?mail=a@b`)."""
    rest = url.partition("://")[2]
    netloc = re.split(r"[/?#]", rest, maxsplit=1)[0]
    meant = rest.rpartition("@")[0]
    _, colon, password = meant.partition(":")
    if not colon or re.match(r"\d+(?:[/?#]|$)|/", password):
        meant = ""
    return netloc, netloc.rpartition("@")[0], meant


def _url_secrets(url: str) -> set[str]:
    scheme, _, rest = url.partition("://")
    web = scheme.lower() in _WEB_SCHEMES
    found: set[str] = set()
    netloc, parsed, meant = _readings(url)
    port = netloc.rpartition("@")[2].rpartition(":")[2]
    if meant and "@" not in netloc and port and not port.isdigit():
        found.add(port)  # the start of a password a parser took for the port, and prints
    for userinfo in {parsed, meant} - {""}:
        user, colon, password = userinfo.partition(":")
        if colon:
            found |= {password, unquote(password)}
            if web:  # what `Authorization: Basic base64(user:password)` encodes
                found |= {f"{user}:{password}", f"{unquote(user)}:{unquote(password)}"}
        elif web and user:  # https://TOKEN@host
            found |= {user, unquote(user)}
    for name, value in _QUERY_PAIR.findall(rest):
        if re.fullmatch(_QUERY_NAME, name, re.IGNORECASE):
            found |= {value, unquote(value), unquote_plus(value)}
    return found


def header_secrets(name: str, value: str) -> set[str]:
    """A configured request header's secrets: its value, the credentials after an auth scheme
    (`Bearer X` -> X; `Basic B` -> B, `user:password`, `password`), each cookie's value."""
    if name.lower() in _PLAIN_HEADERS:
        return set()
    found = {value}
    scheme, _, credentials = value.strip().partition(" ")
    credentials = credentials.strip()
    if credentials:
        found.add(credentials)
        if scheme.lower() == "basic":
            try:
                decoded = base64.b64decode(credentials, validate=True).decode()
            except (binascii.Error, UnicodeDecodeError):
                decoded = ""
            found |= {decoded, decoded.partition(":")[2]}
    if name.lower() == "cookie":
        found |= {part.partition("=")[2].strip() for part in value.split(";")}
    return found


# --- masking by value --------------------------------------------------------------------------

_BASE64_CHAR = re.compile(r"[A-Za-z0-9+/_\-]")
_URLSAFE = str.maketrans("+/", "-_")


def _text_forms(secret: str) -> set[str]:
    """The secret as it may come back in text: raw, percent-encoded, JSON-, HTML-, repr-escaped."""
    forms = {
        secret,
        quote(secret, safe=""),
        quote(secret),
        quote_plus(secret),
        json.dumps(secret)[1:-1],
        json.dumps(secret, ensure_ascii=False)[1:-1],
        html.escape(secret),
        repr(secret)[1:-1],
    }
    forms |= {re.sub(r"%[0-9A-F]{2}", lambda m: m.group().lower(), f) for f in forms if "%" in f}
    return {form for form in forms if len(form) >= MIN_SECRET_CHARS}


def _base64_forms(secret: str) -> set[str]:
    """For each of the 3 byte alignments, the base64 characters (standard and URL-safe) that
    depend only on the secret: whatever surrounds it in an encoded text, one of them shows."""
    data = secret.encode()
    forms = set()
    for offset in range(3):
        encoded = base64.b64encode(b"\0" * offset + data).decode()
        start = 4 if offset else 0  # the first group mixes in the unknown preceding bytes
        end = 4 * ((offset + len(data)) // 3)  # a last partial group mixes in what follows
        fragment = encoded[start:end]
        if len(fragment) >= MIN_BASE64_CHARS:
            forms |= {fragment, fragment.translate(_URLSAFE)}
    return forms


def _alternation(forms: set[str]) -> re.Pattern[str] | None:
    ordered = sorted(forms, key=len, reverse=True)  # the longest form wins where they overlap
    return re.compile("|".join(map(re.escape, ordered))) if ordered else None


_REMEMBERED = 20_000  # cleaned texts a Redactor keeps, of at most _REMEMBERED_CHARS each
_REMEMBERED_CHARS = 512


class Redactor:
    """Masks what a run must never show: every secret value its environment files brought in
    (`${VAR}` values and `configured_secrets`), in every encoding, and the patterns of
    `redact_text`; and makes target text inert. One per run, applied where text enters a
    check's record."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        plain: set[str] = set()
        encoded: set[str] = set()
        for secret in secrets:
            if len(secret) < MIN_SECRET_CHARS:
                continue  # "1" or "on" would mask half the report; patterns still apply
            plain |= _text_forms(secret)
            encoded |= _base64_forms(secret)
        self._plain = _alternation(plain)
        self._base64 = _alternation(encoded - plain)
        self._seen: dict[tuple[str, bool], str] = {}

    def mask(self, text: str) -> str:
        """`text` with every form of every secret replaced by `***`. A base64 match takes the
        base64 characters around it too (up to one group each side), which mix the secret's
        first and last bytes with their neighbours'."""
        spans: list[tuple[int, int]] = []
        if self._plain is not None:
            spans += [m.span() for m in self._plain.finditer(text)]
        if self._base64 is not None:
            for match in self._base64.finditer(text):
                start, end = match.span()
                for _ in range(4):
                    if start > 0 and _BASE64_CHAR.match(text, start - 1):
                        start -= 1
                for _ in range(4):
                    if end < len(text) and (_BASE64_CHAR.match(text, end) or text[end] == "="):
                        end += 1
                while end < len(text) and text[end] == "=":
                    end += 1
                spans.append((start, end))
        merged: list[tuple[int, int]] = []
        for start, end in sorted(spans):
            if merged and start <= merged[-1][1]:  # overlapping forms: one mask
                merged[-1] = (merged[-1][0], max(merged[-1][1], end))
            else:
                merged.append((start, end))
        out, at = [], 0
        for start, end in merged:
            out += [text[at:start], MASK]
            at = end
        out.append(text[at:])
        return "".join(out)

    def __call__(self, text: str, *, newlines: bool = True) -> str:
        # A run cleans the same names, messages and steps for many checks: remember a few.
        key = (text, newlines)
        cleaned = self._seen.get(key)
        if cleaned is None:
            cleaned = inert(_patterns(self.mask(text)), newlines=newlines)
            if len(self._seen) >= _REMEMBERED or len(text) > _REMEMBERED_CHARS:
                return cleaned
            self._seen[key] = cleaned
        return cleaned
