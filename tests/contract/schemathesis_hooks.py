"""Checks added to Schemathesis' own: every 4xx body names the offending field (under /v2, where the Open
Inference Protocol's `{"error": "..."}` has no field, its message says what is wrong)."""

import schemathesis


@schemathesis.check
def client_errors_name_the_field(ctx, response, case) -> None:  # noqa: ANN001 (Schemathesis' signature)
    if 400 <= response.status_code < 500 and case.path.startswith("/v2"):
        error = response.json()["error"]
        assert isinstance(error, str) and error, f"{response.status_code} without a message: {error}"
    elif 400 <= response.status_code < 500:
        error = response.json()["error"]
        assert error["field"], f"{response.status_code} without a field: {error}"
        assert error["message"], f"{response.status_code} without a message: {error}"
