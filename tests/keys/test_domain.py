"""Signing keys without a database: key ids, sealing at rest, JWS and JWT."""

from __future__ import annotations

import base64
import json
import secrets
import uuid

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from hypothesis import given
from hypothesis import strategies as st
from joserfc import jwt
from joserfc.errors import BadSignatureError, JoseError
from joserfc.jwk import OKPKey

from arbitral.keys.domain import (
    ENVELOPE_AES256GCM_V1,
    JWS_ALGORITHM,
    PURPOSES,
    KeyDecryptionError,
    UnknownPurposeError,
    UnsupportedAlgorithmError,
    check_purpose,
    generate_signing_key,
    import_public_jwk,
    jws_registry,
    open_private_key,
    public_jwk,
    seal_private_key,
    sign_compact,
    sign_jwt,
    thumbprint,
    unseal_signing_key,
    verify_compact,
)

# RFC 8037, appendix A: an Ed25519 key, its public JWK's thumbprint, and a signature.
RFC8037_D = "nWGxne_9WmC6hEr0kuwsxERJxWl7MmkZcDusAxyuf2A"
RFC8037_X = "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"
RFC8037_THUMBPRINT = "kPrK_qmxVWaYVA9wwBF6Iuo3vVzz7TxHCTwXBygrS4k"
RFC8037_SIGNING_INPUT = b"eyJhbGciOiJFZERTQSJ9.RXhhbXBsZSBvZiBFZDI1NTE5IHNpZ25pbmc"
RFC8037_SIGNATURE = (
    "hgyY0il_MGCjP0JzlnLWG1PPOt7-09PGcvMg3AIbQR6dWbhijcNR4ki4iylGjg5BhVsPt9g7sVvpAr_MuM0KAg"
)

KEK = bytes(range(32))
TENANT = uuid.UUID("0b3c1f2e-5d4a-4c7b-9e8f-1a2b3c4d5e6f")


def b64url_decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def rfc8037_key() -> Ed25519PrivateKey:
    return Ed25519PrivateKey.from_private_bytes(b64url_decode(RFC8037_D))


def header_of(token: str) -> dict[str, object]:
    decoded: dict[str, object] = json.loads(b64url_decode(token.split(".")[0]))
    return decoded


# -- key ids -----------------------------------------------------------------------


def test_the_kid_is_the_rfc7638_thumbprint_of_rfc8037s_example_key() -> None:
    jwk = public_jwk(rfc8037_key())
    assert jwk == {
        "kty": "OKP",
        "crv": "Ed25519",
        "x": RFC8037_X,
        "kid": RFC8037_THUMBPRINT,
        "use": "sig",
        "alg": "Ed25519",
    }
    # Members beyond the required ones (and their order) do not change a thumbprint.
    assert thumbprint({"x": RFC8037_X, "use": "sig", "crv": "Ed25519", "kty": "OKP"}) == (
        RFC8037_THUMBPRINT
    )


def test_thumbprints_agree_with_joserfc() -> None:
    for _ in range(5):
        jwk = public_jwk(Ed25519PrivateKey.generate())
        assert jwk["kid"] == OKPKey.import_key(jwk).thumbprint()  # type: ignore[arg-type]


def test_a_thumbprint_needs_an_okp_key() -> None:
    with pytest.raises(ValueError, match="OKP"):
        thumbprint({"kty": "EC", "crv": "P-256", "x": "a", "y": "b"})


def test_a_public_jwk_whose_kid_is_not_its_thumbprint_is_refused() -> None:
    jwk = {**public_jwk(rfc8037_key()), "kid": "not-the-thumbprint"}
    with pytest.raises(ValueError, match="not the thumbprint"):
        import_public_jwk(jwk)
    key = import_public_jwk(public_jwk(rfc8037_key()))
    assert key.kid == RFC8037_THUMBPRINT
    assert not key.is_private


def test_purposes() -> None:
    assert PURPOSES == ("jws", "ledger")
    assert check_purpose("ledger") == "ledger"
    for wrong in ("pdf", "JWS", ""):
        with pytest.raises(UnknownPurposeError, match="unknown key purpose"):
            check_purpose(wrong)


# -- generation and sealing --------------------------------------------------------


def test_a_generated_key_is_sealed_and_opens_to_its_kid() -> None:
    new = generate_signing_key(KEK, tenant_id=TENANT, purpose="jws")
    assert new.kid == new.public_jwk["kid"] == thumbprint(new.public_jwk)
    assert new.algorithm == "Ed25519"
    assert new.purpose == "jws"
    assert new.private_key_enc[0] == ENVELOPE_AES256GCM_V1
    assert len(new.private_key_enc) == 1 + 12 + 32 + 16
    assert "private_key_enc" not in repr(new)
    private_key = unseal_signing_key(
        KEK, new.private_key_enc, tenant_id=TENANT, kid=new.kid, purpose="jws", algorithm="Ed25519"
    )
    seed = private_key.private_bytes_raw()
    assert seed not in new.private_key_enc
    assert public_jwk(private_key) == new.public_jwk
    # Two keys are two keys.
    assert generate_signing_key(KEK, tenant_id=TENANT, purpose="jws").kid != new.kid


def test_rfc8037s_key_sealed_and_opened_signs_as_the_rfc_says() -> None:
    seed = b64url_decode(RFC8037_D)
    sealed = seal_private_key(KEK, seed, tenant_id=TENANT, kid=RFC8037_THUMBPRINT, purpose="ledger")
    key = unseal_signing_key(
        KEK,
        sealed,
        tenant_id=TENANT,
        kid=RFC8037_THUMBPRINT,
        purpose="ledger",
        algorithm="Ed25519",
    )
    signature = base64.urlsafe_b64encode(key.sign(RFC8037_SIGNING_INPUT)).rstrip(b"=").decode()
    assert signature == RFC8037_SIGNATURE


@given(
    tenant_id=st.uuids(),
    kid=st.text(max_size=64),
    purpose=st.sampled_from(PURPOSES),
    secret=st.binary(min_size=1, max_size=256),
)
def test_sealing_round_trips_for_any_binding(
    tenant_id: uuid.UUID, kid: str, purpose: str, secret: bytes
) -> None:
    sealed = seal_private_key(KEK, secret, tenant_id=tenant_id, kid=kid, purpose=purpose)
    assert open_private_key(KEK, sealed, tenant_id=tenant_id, kid=kid, purpose=purpose) == secret


_SEED = bytes(range(100, 132))
_SEALED = seal_private_key(KEK, _SEED, tenant_id=TENANT, kid="k1", purpose="jws")


@given(bit=st.integers(min_value=0, max_value=len(_SEALED) * 8 - 1))
def test_any_flipped_bit_fails_to_open(bit: int) -> None:
    tampered = bytearray(_SEALED)
    tampered[bit // 8] ^= 1 << (bit % 8)
    with pytest.raises(KeyDecryptionError) as caught:
        open_private_key(KEK, bytes(tampered), tenant_id=TENANT, kid="k1", purpose="jws")
    assert caught.value.kid == "k1"


@given(
    tenant_id=st.uuids(),
    kid=st.text(max_size=64),
    purpose=st.sampled_from(PURPOSES),
)
def test_another_binding_fails_to_open(tenant_id: uuid.UUID, kid: str, purpose: str) -> None:
    if (tenant_id, kid, purpose) == (TENANT, "k1", "jws"):
        return
    with pytest.raises(KeyDecryptionError, match="does not decrypt"):
        open_private_key(KEK, _SEALED, tenant_id=tenant_id, kid=kid, purpose=purpose)


def test_each_single_field_of_the_binding_counts() -> None:
    other_tenant = uuid.UUID(int=TENANT.int ^ 1)
    for tenant_id, kid, purpose in [
        (other_tenant, "k1", "jws"),
        (TENANT, "k2", "jws"),
        (TENANT, "k1", "ledger"),
        (TENANT, "k", "1jws"),  # the same bytes shifted across a field boundary
    ]:
        with pytest.raises(KeyDecryptionError):
            open_private_key(KEK, _SEALED, tenant_id=tenant_id, kid=kid, purpose=purpose)


def test_a_wrong_kek_names_the_kid_and_never_the_key() -> None:
    with pytest.raises(KeyDecryptionError) as caught:
        open_private_key(
            secrets.token_bytes(32), _SEALED, tenant_id=TENANT, kid="k1", purpose="jws"
        )
    message = str(caught.value)
    assert message.startswith("signing key k1: does not decrypt")
    assert "key-encryption key" in message
    for form in (_SEED.hex(), _SEED.decode("latin-1"), base64.b64encode(_SEED).decode()):
        assert form not in message
    assert caught.value.__cause__ is None
    assert caught.value.__suppress_context__


def test_broken_envelopes_are_precise() -> None:
    def opening(sealed: bytes) -> str:
        with pytest.raises(KeyDecryptionError) as caught:
            open_private_key(KEK, sealed, tenant_id=TENANT, kid="k1", purpose="jws")
        return caught.value.reason

    assert opening(b"") == "the stored private key is empty"
    assert opening(b"\x02" + _SEALED[1:]) == "unknown envelope version 0x02"
    assert opening(_SEALED[:20]) == "the stored private key is truncated"


def test_the_kek_must_be_32_bytes() -> None:
    with pytest.raises(ValueError, match="32 bytes"):
        seal_private_key(b"short", b"x", tenant_id=TENANT, kid="k", purpose="jws")
    with pytest.raises(ValueError, match="32 bytes"):
        open_private_key(b"k" * 33, _SEALED, tenant_id=TENANT, kid="k1", purpose="jws")


def test_a_sealed_key_that_is_not_its_kids_key_is_refused() -> None:
    other = Ed25519PrivateKey.generate().private_bytes_raw()
    sealed = seal_private_key(KEK, other, tenant_id=TENANT, kid=RFC8037_THUMBPRINT, purpose="jws")
    with pytest.raises(KeyDecryptionError, match="thumbprint is not its kid"):
        unseal_signing_key(
            KEK,
            sealed,
            tenant_id=TENANT,
            kid=RFC8037_THUMBPRINT,
            purpose="jws",
            algorithm="Ed25519",
        )
    short = seal_private_key(KEK, b"x" * 31, tenant_id=TENANT, kid="k", purpose="jws")
    with pytest.raises(KeyDecryptionError, match="not an Ed25519 seed"):
        unseal_signing_key(
            KEK, short, tenant_id=TENANT, kid="k", purpose="jws", algorithm="Ed25519"
        )
    with pytest.raises(UnsupportedAlgorithmError, match="'RSA'"):
        unseal_signing_key(KEK, short, tenant_id=TENANT, kid="k", purpose="jws", algorithm="RSA")


# -- signing -----------------------------------------------------------------------


def test_compact_jws_carries_alg_and_kid_and_verifies() -> None:
    key = rfc8037_key()
    token = sign_compact(key, RFC8037_THUMBPRINT, b'{"manifest": 1}', {"cty": "json"})
    assert header_of(token) == {"alg": JWS_ALGORITHM, "kid": RFC8037_THUMBPRINT, "cty": "json"}
    public = import_public_jwk(public_jwk(key))
    assert verify_compact(token, public) == b'{"manifest": 1}'
    # Ed25519 is deterministic: the same input, the same token.
    assert token == sign_compact(key, RFC8037_THUMBPRINT, b'{"manifest": 1}', {"cty": "json"})


def test_a_jws_does_not_verify_with_another_key_or_when_altered() -> None:
    key = rfc8037_key()
    token = sign_compact(key, "kid", b"payload")
    other = import_public_jwk(public_jwk(Ed25519PrivateKey.generate()))
    with pytest.raises(BadSignatureError):
        verify_compact(token, other)
    header, _payload, signature = token.split(".")
    forged = f"{header}.{base64.urlsafe_b64encode(b'pay1oad').rstrip(b'=').decode()}.{signature}"
    with pytest.raises(BadSignatureError):
        verify_compact(forged, import_public_jwk(public_jwk(key)))


def test_other_algorithms_are_refused_by_the_verifier() -> None:
    key = import_public_jwk(public_jwk(rfc8037_key()))
    unsigned = base64.urlsafe_b64encode(b'{"alg":"none"}').rstrip(b"=").decode() + ".cGF5bG9hZA."
    with pytest.raises(JoseError):
        verify_compact(unsigned, key)
    # RFC 8037's own token uses the deprecated polymorphic "EdDSA": refused, not warned about.
    with pytest.raises(JoseError, match="not allowed"):
        verify_compact(f"{RFC8037_SIGNING_INPUT.decode()}.{RFC8037_SIGNATURE}", key)


def test_the_key_decides_alg_and_kid() -> None:
    for name in ("alg", "kid", "jwk", "crit"):
        with pytest.raises(ValueError, match="cannot be given"):
            sign_compact(rfc8037_key(), "kid", b"x", {name: "x"})


def test_jwt_with_an_access_token_type() -> None:
    key = rfc8037_key()
    claims = {"iss": "https://gz.example", "sub": "client-1", "aud": "api", "exp": 2_000_000_000}
    token = sign_jwt(key, RFC8037_THUMBPRINT, claims, {"typ": "at+jwt"})
    assert header_of(token) == {"typ": "at+jwt", "alg": "Ed25519", "kid": RFC8037_THUMBPRINT}
    decoded = jwt.decode(
        token,
        import_public_jwk(public_jwk(key)),
        algorithms=[JWS_ALGORITHM],
        registry=jws_registry(),
    )
    assert decoded.claims == claims
    assert decoded.header["typ"] == "at+jwt"
    assert header_of(sign_jwt(key, "k", {"a": 1}))["typ"] == "JWT"
