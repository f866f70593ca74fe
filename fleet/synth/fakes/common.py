"""Shared building blocks of the fake cloud: stable ids, a real (self-signed) CA certificate."""

from __future__ import annotations

import base64
import hashlib

# A real self-signed P-256 certificate (CN=fleet-synth-fake-ca) generated for synth output only:
# clients that parse CA data get a well-formed PEM. It signs nothing and has no private key here.
FAKE_CA_PEM = """-----BEGIN CERTIFICATE-----
MIIBkjCCATmgAwIBAgIUFc3XdCf8k2aHMhnnwgithpcp9l0wCgYIKoZIzj0EAwIw
HjEcMBoGA1UEAwwTZmxlZXQtc3ludGgtZmFrZS1jYTAgFw0yNjExMjIwMTM2MzRa
GA8yMTI2MTAyOTAxMzYzNFowHjEcMBoGA1UEAwwTZmxlZXQtc3ludGgtZmFrZS1j
YTBZMBMGByqGSM49AgEGCCqGSM49AwEHA0IABI+Yl0BsZ3Ww0OVzXzKs27iY2Ywp
vkvADQ835ZbAvJx/tkqOOMhLdQF+Nk4Dgkc2ZoWIATOS/LwUw13eI01dUVOjUzBR
MB0GA1UdDgQWBBS1wHnqR6aAYuIIO9vqnzhAuux07TAfBgNVHSMEGDAWgBS1wHnq
R6aAYuIIO9vqnzhAuux07TAPBgNVHRMBAf8EBTADAQH/MAoGCCqGSM49BAMCA0cA
MEQCICfXRxIXEULkqFJQvW0tT0X9vdrxpn9Z1FBLOBaqhvE/AiAylRGqoxIfdg52
5kg8KsVlj0VFTF4okJfml55H4LL2kA==
-----END CERTIFICATE-----
"""
FAKE_CA_DATA = base64.b64encode(FAKE_CA_PEM.encode()).decode()

AWS_ACCOUNT_ID = "123456789012"
AZURE_SUBSCRIPTION_ID = "00000000-0000-4000-8000-000000000001"
AZURE_TENANT_ID = "00000000-0000-4000-8000-0000000000aa"
GCP_PROJECT = "fleet-synth-project"
GCP_PROJECT_NUMBER = "123456789012"


def digest(*parts: str, length: int = 12) -> str:
    """A stable hex string derived from parts: the same inputs give the same fake id every run."""
    return hashlib.sha256("/".join(parts).encode()).hexdigest()[:length]


def fake_uuid(*parts: str) -> str:
    h = hashlib.sha256("/".join(parts).encode()).hexdigest()
    return f"{h[:8]}-{h[8:12]}-4{h[13:16]}-8{h[17:20]}-{h[20:32]}"


def fake_ip(*parts: str) -> str:
    """A documentation-range address (RFC 5737 TEST-NET-3), stable per parts."""
    return f"203.0.113.{int(digest(*parts, length=4), 16) % 254 + 1}"
