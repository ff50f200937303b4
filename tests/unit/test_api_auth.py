"""SigV4 verification: requests signed by botocore itself pass, and every kind of bad one is refused
with the code AWS's JSON services answer."""

from __future__ import annotations

import datetime as dt
import hashlib
import time
from collections.abc import Mapping
from pathlib import Path
from unittest import mock

import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from starlette.datastructures import Headers

from orchestrator import errors
from orchestrator.api import auth
from orchestrator.settings import Settings

KEY_ID, SECRET = "AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"
OTHER_ID, OTHER_SECRET = "AKIDOTHER", "another-secret"
SIGNED_AT = dt.datetime(2026, 12, 4, 12, 0, 0, tzinfo=dt.UTC)
NOW = SIGNED_AT.timestamp()
HOST = "127.0.0.1:8639"
BODY = b'{"JobName": "nightly"}'


def sign(*, key_id: str = KEY_ID, secret: str = SECRET, service: str = "glue",
         region: str = "us-east-1", target: str = "AWSGlue.GetJob", body: bytes = BODY,
         extra: dict[str, str] | None = None, at: dt.datetime = SIGNED_AT) -> dict[str, str]:
    """The headers of a request botocore signed as boto3 does, as Starlette hands them over."""
    request = AWSRequest(method="POST", url=f"http://{HOST}/", data=body, headers={
        "Content-Type": "application/x-amz-json-1.1", "X-Amz-Target": target, **(extra or {})})
    with mock.patch("botocore.auth.get_current_datetime", return_value=at.replace(tzinfo=None)):
        SigV4Auth(Credentials(key_id, secret), service, region).add_auth(request)
    headers = {name.lower(): value.decode() if isinstance(value, bytes) else value
               for name, value in request.headers.items()}
    # What the HTTP client adds on the way (botocore signs Host from the URL).
    headers.update({"host": HOST, "content-length": str(len(body)),
                    "user-agent": "Boto3/1.44.8 md/Botocore#1.44.8"})
    return headers


def verifier(now: float = NOW, **kwargs: float) -> auth.Verifier:
    return auth.Verifier({KEY_ID: SECRET, OTHER_ID: OTHER_SECRET}, clock=lambda: now, **kwargs)


def verify(headers: Mapping[str, str], body: bytes = BODY, *, now: float = NOW, query: str = "") -> str:
    return verifier(now).verify("POST", "/", query, headers, body)


def refused(error: type[errors.GlueError], headers: Mapping[str, str], body: bytes = BODY, *,
            now: float = NOW, query: str = "") -> str:
    with pytest.raises(error) as caught:
        verify(headers, body, now=now, query=query)
    assert type(caught.value) is error
    return caught.value.message


def with_auth(headers: dict[str, str], value: str) -> dict[str, str]:
    return {**headers, "authorization": value}


# --- accepted ---------------------------------------------------------------------------------


def test_a_request_signed_by_botocore_passes() -> None:
    assert verify(sign()) == KEY_ID


def test_header_names_are_case_insensitive() -> None:
    headers = {name.title(): value for name, value in sign().items()}
    assert verify(headers) == KEY_ID


def test_starlette_headers_as_the_server_hands_them_over() -> None:
    raw = [(name.encode("latin-1"), value.encode("latin-1")) for name, value in sign().items()]
    raw += [(b"accept-encoding", b"identity"), (b"accept-encoding", b"gzip")]
    assert verify(Headers(raw=raw)) == KEY_ID


def test_a_second_configured_key_works() -> None:
    assert verify(sign(key_id=OTHER_ID, secret=OTHER_SECRET)) == OTHER_ID


def test_a_request_signed_for_eventbridge_passes() -> None:
    headers = sign(service="events", region="eu-west-1", target="AWSEvents.PutEvents",
                   body=b'{"Entries": [{"Source": "a", "DetailType": "b", "Detail": "{}"}]}')
    assert "/eu-west-1/events/aws4_request" in headers["authorization"]
    assert verify(headers, b'{"Entries": [{"Source": "a", "DetailType": "b", "Detail": "{}"}]}') == KEY_ID


def test_an_unsigned_header_added_on_the_way_does_not_matter() -> None:
    assert verify({**sign(), "x-forwarded-for": "10.0.0.1", "x-amzn-trace-id": "Root=1"}) == KEY_ID


def test_a_matching_content_sha256_header_passes() -> None:
    headers = sign(extra={"X-Amz-Content-SHA256": hashlib.sha256(BODY).hexdigest()})
    assert "x-amz-content-sha256" in headers["authorization"]
    assert verify(headers) == KEY_ID


def test_clock_skew_up_to_the_limit_passes_both_ways() -> None:
    headers = sign()
    assert verify(headers, now=NOW + 300) == KEY_ID
    assert verify(headers, now=NOW - 300) == KEY_ID


def test_a_date_header_instead_of_x_amz_date_passes() -> None:
    # botocore signs with Date when the request already has one.
    headers = sign(extra={"Date": "Fri, 04 Dec 2026 11:00:00 GMT"})
    assert "x-amz-date" not in headers and headers["date"].startswith("Fri, 04 Dec 2026 12:00:00")
    assert verify(headers) == KEY_ID


def test_derived_signing_keys_are_cached_per_day_and_scope() -> None:
    auth._signing_key.cache_clear()
    verify(sign())
    verify(sign())
    verify(sign(region="eu-west-1"))
    info = auth._signing_key.cache_info()
    assert (info.hits, info.misses) == (1, 2)


# --- missing or malformed Authorization --------------------------------------------------------


def test_no_authorization_header_is_a_missing_token() -> None:
    headers = sign()
    del headers["authorization"]
    assert refused(errors.MissingAuthenticationTokenException, headers) == \
        "Request is missing Authentication Token"


def test_an_authorization_that_is_no_aws_signature_is_a_missing_token() -> None:
    refused(errors.MissingAuthenticationTokenException, with_auth(sign(), "Bearer abc.def.ghi"))


def test_presigned_query_authentication_is_refused() -> None:
    headers = sign()
    del headers["authorization"]
    message = refused(errors.IncompleteSignatureException, headers,
                      query="X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKIDEXAMPLE%2F20261204"
                            "%2Fus-east-1%2Fglue%2Faws4_request&X-Amz-Signature=abc")
    assert "presigned" in message


@pytest.mark.parametrize("drop", ["Credential", "SignedHeaders", "Signature"])
def test_an_authorization_without_a_part_is_incomplete(drop: str) -> None:
    headers = sign()
    algorithm, _, rest = headers["authorization"].partition(" ")
    kept = [part for part in rest.split(", ") if not part.startswith(f"{drop}=")]
    value = f"{algorithm} {', '.join(kept)}"
    message = refused(errors.IncompleteSignatureException, with_auth(headers, value))
    assert message == f"Authorization header requires '{drop}' parameter. Authorization={value}"


def test_two_authorization_headers_are_incomplete() -> None:
    headers = sign()
    raw = [(name.encode(), value.encode()) for name, value in headers.items()]
    raw.append((b"authorization", sign(key_id=OTHER_ID, secret=OTHER_SECRET)["authorization"].encode()))
    refused(errors.IncompleteSignatureException, Headers(raw=raw))


def test_a_request_without_any_date_is_incomplete() -> None:
    headers = sign()
    del headers["x-amz-date"]
    message = refused(errors.IncompleteSignatureException, headers)
    assert "requires existence of either a 'X-Amz-Date' or a 'Date' header" in message


def test_a_part_without_an_equal_sign_is_incomplete() -> None:
    headers = sign()
    value = headers["authorization"].replace("SignedHeaders=", "SignedHeaders")
    message = refused(errors.IncompleteSignatureException, with_auth(headers, value))
    assert "not a valid key=value pair (missing equal-sign)" in message


@pytest.mark.parametrize("algorithm", ["AWS4-HMAC-SHA512", "AWS4-ECDSA-P256-SHA256"])
def test_another_algorithm_is_incomplete(algorithm: str) -> None:
    headers = sign()
    value = headers["authorization"].replace("AWS4-HMAC-SHA256", algorithm)
    message = refused(errors.IncompleteSignatureException, with_auth(headers, value))
    assert message == f"Unsupported AWS 'algorithm': '{algorithm}' (only AWS4-HMAC-SHA256 for now)."


def test_a_credential_of_the_wrong_shape_is_incomplete() -> None:
    headers = sign()
    value = headers["authorization"].replace("/aws4_request", "")
    message = refused(errors.IncompleteSignatureException, with_auth(headers, value))
    assert message.startswith("Credential must have exactly 5 slash-delimited elements")


def test_a_malformed_date_is_incomplete() -> None:
    message = refused(errors.IncompleteSignatureException, {**sign(), "x-amz-date": "2026-12-04T12:00:00Z"})
    assert message.startswith("Date must be in ISO-8601 'basic format'. Got '2026-12-04T12:00:00Z'.")
    refused(errors.IncompleteSignatureException, {**sign(), "x-amz-date": "20261304T120000Z"})


# --- who signed, and what -----------------------------------------------------------------------


def test_an_unknown_access_key_id_is_unrecognized() -> None:
    message = refused(errors.UnrecognizedClientException, sign(key_id="AKIDNOBODY"))
    assert message == "The security token included in the request is invalid."


def test_a_wrong_secret_is_an_invalid_signature() -> None:
    message = refused(errors.InvalidSignatureException, sign(secret="not-the-secret"))
    assert message.startswith("The request signature we calculated does not match the signature you "
                              "provided. Check your AWS Secret Access Key and signing method. "
                              "Consult the service documentation for details.")
    assert "The String-to-Sign should have been" in message
    assert SECRET not in message


def test_a_tampered_body_is_an_invalid_signature() -> None:
    refused(errors.InvalidSignatureException, sign(), b'{"JobName": "other"}')


def test_a_tampered_signed_header_is_an_invalid_signature() -> None:
    refused(errors.InvalidSignatureException, {**sign(), "x-amz-target": "AWSGlue.DeleteJob"})
    refused(errors.InvalidSignatureException, {**sign(), "host": "evil.example:8639"})


def test_a_tampered_date_is_an_invalid_signature() -> None:
    refused(errors.InvalidSignatureException, {**sign(), "x-amz-date": "20261204T120001Z"})


def test_a_tampered_signature_is_an_invalid_signature() -> None:
    headers = sign()
    value = headers["authorization"][:-4] + ("0000" if not headers["authorization"].endswith("0000") else "1111")
    refused(errors.InvalidSignatureException, with_auth(headers, value))
    refused(errors.InvalidSignatureException, with_auth(headers, value[:-64] + "é" * 64))


def test_host_must_be_signed() -> None:
    headers = sign()
    value = headers["authorization"].replace("content-type;host;", "content-type;")
    message = refused(errors.InvalidSignatureException, with_auth(headers, value))
    assert message == "'Host' must be a 'SignedHeader' in the AWS Authorization."


def test_x_amz_target_must_be_signed_when_sent() -> None:
    headers = sign()
    value = headers["authorization"].replace(";x-amz-target", "")
    message = refused(errors.InvalidSignatureException, with_auth(headers, value))
    assert message == "'X-Amz-Target' must be a 'SignedHeader' in the AWS Authorization."


def test_a_session_token_is_unrecognized() -> None:
    headers = sign(extra={"X-Amz-Security-Token": "FwoGZXIvYXdzE"})
    assert "x-amz-security-token" in headers["authorization"]
    refused(errors.UnrecognizedClientException, headers)


# --- when ---------------------------------------------------------------------------------------


def test_a_signature_too_old_has_expired() -> None:
    message = refused(errors.InvalidSignatureException, sign(), now=NOW + 301)
    assert message == ("Signature expired: 20261204T120000Z is now earlier than 20261204T120001Z "
                       "(20261204T120501Z - 5 min.)")


def test_a_signature_from_the_future_is_not_yet_current() -> None:
    message = refused(errors.InvalidSignatureException, sign(), now=NOW - 301)
    assert message == ("Signature not yet current: 20261204T120000Z is still later than "
                       "20261204T115959Z (20261204T115459Z + 5 min.)")


def test_the_skew_limit_is_a_setting() -> None:
    headers = sign()
    assert verifier(NOW + 900, max_skew=900).verify("POST", "/", "", headers, BODY) == KEY_ID
    with pytest.raises(errors.InvalidSignatureException, match=r"- 15 min\.\)$"):
        verifier(NOW + 901, max_skew=900).verify("POST", "/", "", headers, BODY)
    with pytest.raises(ValueError):
        auth.Verifier({}, max_skew=-1)


def test_a_scope_date_other_than_the_request_date_is_an_invalid_signature() -> None:
    # Signed just before midnight, with the scope of the day after.
    headers = sign(at=SIGNED_AT.replace(hour=23, minute=59, second=59))
    value = headers["authorization"].replace("/20261204/", "/20261205/")
    message = refused(errors.InvalidSignatureException, with_auth(headers, value),
                      now=NOW + 12 * 3600)
    assert message == ("Date in Credential scope does not match YYYYMMDD from ISO-8601 version of "
                       "date from HTTP: '20261205' != '20261204', from '20261204T235959Z'.")


def test_a_scope_with_another_terminator_is_an_invalid_signature() -> None:
    headers = sign()
    value = headers["authorization"].replace("/aws4_request", "/aws5_request")
    refused(errors.InvalidSignatureException, with_auth(headers, value))


# --- the body hash ------------------------------------------------------------------------------


def test_a_content_sha256_that_does_not_match_the_body_is_refused() -> None:
    headers = sign(extra={"X-Amz-Content-SHA256": hashlib.sha256(b"something else").hexdigest()})
    message = refused(errors.InvalidSignatureException, headers)
    assert "x-amz-content-sha256" in message


@pytest.mark.parametrize("value", ["UNSIGNED-PAYLOAD", "STREAMING-UNSIGNED-PAYLOAD-TRAILER"])
def test_an_unsigned_payload_is_refused(value: str) -> None:
    headers = sign(extra={"X-Amz-Content-SHA256": value})
    message = refused(errors.InvalidSignatureException, headers)
    assert "must be signed" in message


# --- keys ---------------------------------------------------------------------------------------


def test_load_keys_reads_settings_and_the_file(tmp_path: Path) -> None:
    file = tmp_path / "keys"
    file.write_text("# team keys\n\n  AKIDFILE : file-secret  \r\n# old: AKIDOLD:gone\nAKIDB:b:with:colons\n")
    settings = Settings(access_keys=((KEY_ID, SECRET),), access_keys_file=file)
    assert auth.load_keys(settings) == {KEY_ID: SECRET, "AKIDFILE": "file-secret",
                                        "AKIDB": "b:with:colons"}
    assert auth.load_keys(Settings()) == {}


@pytest.mark.parametrize("line", ["AKIDBAD top-secret-value", "AKIDBAD:", ":top-secret-value"])
def test_a_bad_line_names_its_number_and_not_its_secret(tmp_path: Path, line: str) -> None:
    file = tmp_path / "keys"
    file.write_text(f"# comment\nAKIDGOOD:fine\n\n{line}\n")
    with pytest.raises(errors.InvalidInputException) as caught:
        auth.load_keys(Settings(access_keys_file=file))
    assert f"{file}, line 4" in caught.value.message
    assert "top-secret-value" not in caught.value.message


def test_a_key_id_given_twice_with_two_secrets_is_refused(tmp_path: Path) -> None:
    file = tmp_path / "keys"
    file.write_text(f"{KEY_ID}:top-secret-value\n")
    with pytest.raises(errors.InvalidInputException, match="line 1") as caught:
        auth.load_keys(Settings(access_keys=((KEY_ID, SECRET),), access_keys_file=file))
    assert "top-secret-value" not in caught.value.message and SECRET not in caught.value.message


def test_a_missing_keys_file_is_named(tmp_path: Path) -> None:
    file = tmp_path / "nowhere"
    with pytest.raises(errors.InvalidInputException, match="nowhere"):
        auth.load_keys(Settings(access_keys_file=file))


def test_the_refusals_carry_aws_codes_and_statuses() -> None:
    assert {(cls.code, cls.status) for cls in (
        errors.MissingAuthenticationTokenException, errors.IncompleteSignatureException,
        errors.UnrecognizedClientException, errors.InvalidSignatureException)} == {
        ("MissingAuthenticationTokenException", 400), ("IncompleteSignatureException", 400),
        ("UnrecognizedClientException", 400), ("InvalidSignatureException", 400)}


def test_a_verify_is_cheap() -> None:
    headers, check = sign(), verifier()
    check.verify("POST", "/", "", headers, BODY)
    started = time.perf_counter()
    for _ in range(200):
        check.verify("POST", "/", "", headers, BODY)
    assert (time.perf_counter() - started) / 200 < 0.001
