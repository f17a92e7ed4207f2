"""The address ``socialdesk setup`` hands a helpdesk: what it refuses and what ``--allow-private`` lets through.
(The command line's refusals are in tests/system/test_cli.py.)"""
from __future__ import annotations

from cli.public_url import public_url_problem


def test_a_public_https_address_with_a_path_will_do() -> None:
    assert public_url_problem("https://93.184.215.14/socialdesk") is None
    assert public_url_problem("https://[2606:4700::1111]:8443/") is None


def test_allow_private_lets_private_ranges_through_but_not_a_malformed_url() -> None:
    for url in ("https://127.0.0.1:8443", "https://10.0.0.5", "https://[fe80::1]", "https://localhost:8443"):
        assert public_url_problem(url) is not None
        assert public_url_problem(url, allow_private=True) is None, url
    assert "https://" in (public_url_problem("http://10.0.0.5", allow_private=True) or "")
    assert "query" in (public_url_problem("https://10.0.0.5/?a=1", allow_private=True) or "")


def test_a_name_is_refused_only_when_every_address_it_resolves_to_is_inside() -> None:
    inside = public_url_problem("https://hooks.corp.example", resolve=lambda host: ["10.0.0.7", "fd00::7"])
    assert inside is not None and "hooks.corp.example (resolves to 10.0.0.7, fd00::7) is a private address" in inside
    assert public_url_problem("https://hooks.corp.example", resolve=lambda host: ["10.0.0.7", "93.184.215.14"]) is None


def test_a_name_that_does_not_resolve_here_is_left_to_the_helpdesk() -> None:
    def nowhere(host: str) -> list[str]:
        raise OSError("Name or service not known")

    assert public_url_problem("https://socialdesk.acme.example", resolve=nowhere) is None
