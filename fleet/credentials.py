"""Credentials embedded in text: found without ever being quoted.

Used by the declaration checks (a token inside fleet:repository.url), by the error messages (a
value that may be a secret is never echoed) and by the `no-plaintext-credentials` guardrail.

Token formats:
- GitHub: ghp_/gho_/ghu_/ghs_/ghr_ and github_pat_ prefixes
  (https://github.blog/engineering/platform-security/behind-githubs-new-authentication-token-formats/),
  and `x-access-token:<token>@` for app installation tokens in git URLs
  (https://docs.github.com/en/apps/creating-github-apps/authenticating-with-a-github-app/authenticating-as-a-github-app-installation);
- GitLab: glpat- personal access tokens (https://docs.gitlab.com/security/tokens/);
- AWS access key ids AKIA/ASIA + 16 characters
  (https://docs.aws.amazon.com/IAM/latest/UserGuide/security-creds.html);
- URL userinfo with a password, `scheme://user:password@host` (RFC 3986 section 3.2.1 deprecates
  it precisely because it leaks: https://www.rfc-editor.org/rfc/rfc3986#section-3.2.1).
"""

from __future__ import annotations

import re

_TOKEN = re.compile(
    r"(?<![A-Za-z0-9])(gh[pousr]_[A-Za-z0-9]{20,}|github_pat_[A-Za-z0-9_]{20,}|glpat-[A-Za-z0-9_-]{20,}"
    r"|(?:AKIA|ASIA)[0-9A-Z]{16}(?![0-9A-Za-z]))"
)
# Bounded repetitions: an unbounded `[a-z]*://` rescans a long run of letters from every position
# (quadratic on a 10 MB value).
_URL_PASSWORD = re.compile(r"(?<![A-Za-z0-9+.-])[A-Za-z][A-Za-z0-9+.-]{0,31}://[^/\s@:]{0,256}:[^/\s@]{1,256}@")
_ACCESS_TOKEN = re.compile(r"x-access-token:|x-oauth-basic|oauth2:[^@\s/]{1,256}@", re.IGNORECASE)
_PRIVATE_KEY = re.compile(r"-----BEGIN [A-Z ]*PRIVATE KEY-----")

FIX = "run `pulumi config set --secret fleet:gitToken <token>` instead"


def credential_in(text: str) -> str | None:
    """What kind of credential `text` holds (never the credential itself), or None."""
    if _URL_PASSWORD.search(text):
        return "a user name with a password or token (user:token@)"
    if _ACCESS_TOKEN.search(text):
        return "an access token"
    if _TOKEN.search(text):
        return "an access token"
    if _PRIVATE_KEY.search(text):
        return "a private key"
    return None


def may_be_secret(text: str) -> bool:
    return credential_in(text) is not None
