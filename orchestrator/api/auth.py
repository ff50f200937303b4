"""AWS Signature Version 4 checks for `adhere serve`, answered as AWS's JSON services answer.

The signature is recomputed with botocore's own signer (the code that signed the request in
boto3), fed with the headers the Authorization header names and the request's own X-Amz-Date.
Choices, and why:

- Clock skew: 300 s by default. AWS documents 15 minutes (RequestExpired), but its JSON
  services mostly refuse at 5 ("Signature expired: ... (... - 5 min.)" from Kinesis, Rekognition,
  Secrets Manager; DynamoDB allows 15); the tighter window shortens replays.
- Checks run in the order AWS's JSON services run them (parameters, date, skew, Host signed,
  algorithm, credential scope, key id, body hash, signature, session token), with their codes
  and messages. Any region and service are accepted in the scope: the scope is signed over.
- Refused: query-string (presigned) authentication, ``UNSIGNED-PAYLOAD`` and streaming
  payloads (botocore never sends them for a JSON protocol; the body must be signed), session
  tokens (adhere issues none) and SigV4a. Ours, not AWS's: X-Amz-Target must be signed when
  present, or a captured GetJob could be replayed as DeleteJob with the same body.
"""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
import hmac
import re
import time
from collections.abc import Callable, Mapping
from email.utils import parsedate_to_datetime
from pathlib import Path
from typing import TYPE_CHECKING

from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.compat import HTTPHeaders
from botocore.credentials import Credentials

from orchestrator import errors

if TYPE_CHECKING:
    from orchestrator.settings import Settings

DEFAULT_MAX_SKEW = 300.0
ALGORITHM = "AWS4-HMAC-SHA256"
_AMZ_DATE = re.compile(r"[0-9]{8}T[0-9]{6}Z")
_ECHO = 512  # longest piece of a request quoted back in a message


def load_keys(settings: Settings) -> dict[str, str]:
    """Access key id -> secret, from ``settings.access_keys`` and then the keys file.

    The file holds ``ID:SECRET`` lines; blank lines and ``#`` comments are skipped. A bad line
    is named by its number only: its text may hold a secret.
    """
    keys: dict[str, str] = {}
    for key_id, secret in settings.access_keys:
        _add(keys, key_id, secret, "ADHERE_ACCESS_KEYS")
    path = settings.access_keys_file
    if path is None:
        return keys
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise errors.InvalidInputException(
            f"cannot read the access keys file {path}: {exc.strerror or exc}") from None
    except UnicodeDecodeError:
        raise errors.InvalidInputException(f"the access keys file {path} is not UTF-8 text") from None
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        key_id, sep, secret = line.partition(":")
        key_id, secret = key_id.strip(), secret.strip()
        if not sep or not key_id or not secret:
            raise errors.InvalidInputException(
                f"{path}, line {number}: expected ACCESS_KEY_ID:SECRET")
        _add(keys, key_id, secret, f"{path}, line {number}")
    return keys


def _add(keys: dict[str, str], key_id: str, secret: str, where: str) -> None:
    if "/" in key_id or any(c.isspace() for c in key_id):
        # It could never be matched: the credential scope is split on "/".
        raise errors.InvalidInputException(f"{where}: an access key id cannot contain '/' or spaces")
    if keys.get(key_id, secret) != secret:
        raise errors.InvalidInputException(
            f"{where}: access key id {key_id!r} is given again with another secret")
    keys[key_id] = secret


class _Recompute(SigV4Auth):
    """botocore's signer, told which headers the client signed and what the body hashes to.

    botocore would otherwise sign every header present (less its own deny list), which is
    right for a client and wrong for a server: a proxy may add headers, and a client other
    than botocore may sign a header botocore never would (User-Agent).
    """

    def headers_to_sign(self, request: AWSRequest) -> HTTPHeaders:
        return request.context["signed_headers"]

    def payload(self, request: AWSRequest) -> str:
        return request.context["payload_hash"]


@functools.lru_cache(maxsize=256)
def _signing_key(secret: str, date: str, region: str, service: str) -> bytes:
    """kSigning of the SigV4 spec; bounded, since the region and service come from the caller."""
    key = f"AWS4{secret}".encode()
    for part in (date, region, service, "aws4_request"):
        key = hmac.new(key, part.encode(), hashlib.sha256).digest()
    return key


class Verifier:
    """Checks SigV4 Authorization headers against a fixed set of access keys."""

    def __init__(self, keys: Mapping[str, str], *, max_skew: float = DEFAULT_MAX_SKEW,
                 clock: Callable[[], float] = time.time) -> None:
        if not max_skew >= 0:
            raise ValueError(f"max_skew must be 0 or more seconds, not {max_skew!r}")
        self._keys = dict(keys)
        self._max_skew = float(max_skew)
        self._clock = clock

    def verify(self, method: str, path: str, query: str, headers: Mapping[str, str],
               body: bytes) -> str:
        """The access key id that signed this request, or the error AWS would answer.

        ``path`` and ``query`` are as sent on the wire, still percent-encoded (Starlette:
        ``scope["raw_path"]`` and ``scope["query_string"]``, decoded as latin-1).
        ``headers`` may repeat a name (Starlette's ``Headers.items()`` does); case is ignored.
        """
        fields: dict[str, list[str]] = {}
        for name, value in headers.items():
            fields.setdefault(name.lower(), []).append(value)
        algorithm, credential, signed, signature = _authorization(fields, query)
        timestamp, when = _timestamp(_one(fields, "x-amz-date"), _one(fields, "date"))
        self._check_skew(timestamp, when)
        names = list(dict.fromkeys(name.strip().lower() for name in signed.split(";")))
        for required in ("host", *(["x-amz-target"] if "x-amz-target" in fields else [])):
            if required not in names:
                shown = "Host" if required == "host" else "X-Amz-Target"
                raise errors.InvalidSignatureException(
                    f"'{shown}' must be a 'SignedHeader' in the AWS Authorization.")
        if algorithm != ALGORITHM:
            raise errors.IncompleteSignatureException(
                f"Unsupported AWS 'algorithm': '{_echo(algorithm)}' (only {ALGORITHM} for now).")
        key_id, date, region, service = _scope(credential, timestamp)
        secret = self._keys.get(key_id)
        if secret is None:
            raise errors.UnrecognizedClientException()
        payload_hash = _payload_hash(_one(fields, "x-amz-content-sha256"), body)

        request = AWSRequest(method=method, url=f"http://adhere/{path.lstrip('/')}"
                             + (f"?{query}" if query else ""))
        request.headers = HTTPHeaders()
        for name in names:
            for value in fields.get(name, [""]):  # a signed header that is absent signs as empty
                request.headers[name] = value
        request.context.update(timestamp=timestamp, signed_headers=request.headers,
                               payload_hash=payload_hash)
        signer = _Recompute(Credentials(key_id, secret), service, region)
        canonical = signer.canonical_request(request)
        string_to_sign = signer.string_to_sign(request, canonical)
        # Same value as signer.signature(), with the derived key cached per day and scope.
        expected = hmac.new(_signing_key(secret, date, region, service), string_to_sign.encode(),
                            hashlib.sha256).hexdigest()
        if not hmac.compare_digest(expected.encode(), signature.encode("utf-8", "replace")):
            raise errors.InvalidSignatureException(
                f"{errors.InvalidSignatureException().message}\n\n"
                f"The Canonical String for this request should have been\n'{canonical}'\n\n"
                f"The String-to-Sign should have been\n'{string_to_sign}'\n")
        if "x-amz-security-token" in fields:
            raise errors.UnrecognizedClientException()  # adhere issues no session tokens
        return key_id

    def _check_skew(self, timestamp: str, when: float) -> None:
        now = self._clock()
        minutes = f"{self._max_skew / 60:g} min."
        if when < now - self._max_skew:
            raise errors.InvalidSignatureException(
                f"Signature expired: {timestamp} is now earlier than "
                f"{_stamp(now - self._max_skew)} ({_stamp(now)} - {minutes})")
        if when > now + self._max_skew:
            raise errors.InvalidSignatureException(
                f"Signature not yet current: {timestamp} is still later than "
                f"{_stamp(now + self._max_skew)} ({_stamp(now)} + {minutes})")


def _authorization(fields: Mapping[str, list[str]], query: str) -> tuple[str, str, str, str]:
    """Algorithm, Credential, SignedHeaders and Signature of the Authorization header."""
    values = fields.get("authorization", [])
    if len(values) > 1:
        raise errors.IncompleteSignatureException("A request must carry one Authorization header.")
    auth = values[0].strip() if values else ""
    if not auth:
        if re.search(r"(?:^|&)X-Amz-(?:Signature|Credential)=", query):
            raise errors.IncompleteSignatureException(
                "Query-string authentication (a presigned URL) is not supported: "
                "sign the request with an Authorization header.")
        raise errors.MissingAuthenticationTokenException()
    if not auth.startswith("AWS4-"):
        # Not an AWS signature at all (Basic, Bearer, SigV2): as if none were sent.
        raise errors.MissingAuthenticationTokenException()
    algorithm, _, rest = auth.partition(" ")
    params = _parameters(rest, auth)
    wanted = ("Credential", "Signature", "SignedHeaders")
    missing = "".join(f"Authorization header requires '{name}' parameter. "
                      for name in wanted if name not in params)
    if "x-amz-date" not in fields and "date" not in fields:
        missing += ("Authorization header requires existence of either a 'X-Amz-Date' or a "
                    "'Date' header. ")
    if missing:
        raise errors.IncompleteSignatureException(f"{missing}Authorization={_echo(auth)}")
    return algorithm, params["Credential"], params["SignedHeaders"], params["Signature"]


def _scope(credential: str, timestamp: str) -> tuple[str, str, str, str]:
    """Key id, date, region and service of the credential; any region and service will do."""
    parts = credential.split("/")
    if len(parts) != 5:
        raise errors.IncompleteSignatureException(
            "Credential must have exactly 5 slash-delimited elements, "
            f"e.g. keyid/date/region/service/term, got '{_echo(credential)}'")
    key_id, date, region, service, terminator = parts
    problems = []
    if not region:
        problems.append("Credential should be scoped to a valid region, not ''.")
    if not service:
        problems.append("Credential should be scoped to correct service, not ''.")
    if terminator != "aws4_request":
        problems.append("Credential should be scoped with a valid terminator: 'aws4_request', "
                        f"not '{_echo(terminator)}'.")
    if date != timestamp[:8]:
        problems.append("Date in Credential scope does not match YYYYMMDD from ISO-8601 version "
                        f"of date from HTTP: '{_echo(date)}' != '{timestamp[:8]}', "
                        f"from '{timestamp}'.")
    if problems:
        raise errors.InvalidSignatureException(" ".join(problems))
    return key_id, date, region, service


def _payload_hash(declared: str | None, body: bytes) -> str:
    """The body's SHA-256, which X-Amz-Content-Sha256 must repeat when sent."""
    digest = hashlib.sha256(body).hexdigest()
    if declared is not None and declared != digest:
        if declared == "UNSIGNED-PAYLOAD" or declared.startswith("STREAMING-"):
            raise errors.InvalidSignatureException(
                f"X-Amz-Content-Sha256 '{_echo(declared)}' is not accepted here: "
                "the body of a JSON request must be signed.")
        raise errors.InvalidSignatureException(
            "The provided 'x-amz-content-sha256' header does not match what was computed.")
    return digest


def _parameters(rest: str, auth: str) -> dict[str, str]:
    params: dict[str, str] = {}
    for part in rest.split(","):
        part = part.strip()
        if not part:
            continue
        name, sep, value = part.partition("=")
        if not sep:
            raise errors.IncompleteSignatureException(
                f"'{_echo(part)}' not a valid key=value pair (missing equal-sign) in "
                f"Authorization header: '{_echo(auth)}'.")
        params[name.strip()] = value.strip()
    return params


def _one(fields: Mapping[str, list[str]], name: str) -> str | None:
    values = fields.get(name)
    return ",".join(values).strip() if values else None


def _timestamp(amz_date: str | None, http_date: str | None) -> tuple[str, float]:
    """The SigV4 timestamp (X-Amz-Date wins over Date, as the spec says) and its epoch seconds."""
    if amz_date is not None:
        if _AMZ_DATE.fullmatch(amz_date):
            d = amz_date  # strptime costs ten times this
            try:
                parsed = dt.datetime(int(d[:4]), int(d[4:6]), int(d[6:8]), int(d[9:11]),
                                     int(d[11:13]), int(d[13:15]), tzinfo=dt.UTC)
                return amz_date, parsed.timestamp()
            except ValueError:
                pass
        got = amz_date
    else:
        assert http_date is not None
        try:
            parsed = parsedate_to_datetime(http_date)
            if parsed.tzinfo is None:
                parsed = parsed.replace(tzinfo=dt.UTC)
            return parsed.astimezone(dt.UTC).strftime("%Y%m%dT%H%M%SZ"), parsed.timestamp()
        except (TypeError, ValueError, IndexError):
            got = http_date
    raise errors.IncompleteSignatureException(
        f"Date must be in ISO-8601 'basic format'. Got '{_echo(got)}'. "
        "See http://en.wikipedia.org/wiki/ISO_8601")


def _stamp(seconds: float) -> str:
    return time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(seconds))


def _echo(text: str) -> str:
    return text if len(text) <= _ECHO else f"{text[:_ECHO]}..."
