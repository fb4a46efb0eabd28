"""The test kit's whole-run secret watch: a session in which a registered secret
reaches a log record fails, and says where (not what)."""

from __future__ import annotations

import pytest

pytest_plugins = ["pytester"]


def test_a_logged_secret_fails_the_session_and_names_the_place(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
        import logging

        from bridgekit.testing.secrets import register_secret

        def test_careless():
            register_secret("s3cr3t-token-value")
            logging.getLogger("careless.plugin").warning("token is s3cr3t-token-value")

        def test_careful():
            register_secret("another-s3cr3t")
            logging.getLogger("careful.plugin").warning("token is <redacted>")
        """
    )
    result = pytester.runpytest_inprocess("-p", "no:cacheprovider")
    result.assert_outcomes(passed=2)
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    result.stdout.fnmatch_lines(["*a registered secret appeared*", "*careless.plugin (WARNING)*"])
    assert "s3cr3t-token-value" not in result.stdout.str().split("registered secret")[1]
    assert "careful.plugin" not in result.stdout.str().split("registered secret")[1]
