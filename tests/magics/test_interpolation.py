"""`{name}` interpolation of a cell's text: which braces are variables, which are escapes, which stay as written."""

from __future__ import annotations

import pytest

from glm_nb.magics.interpolation import interpolate, unknown_names

NAMESPACE = {"city": "Paris", "城市": "北京"}


@pytest.mark.parametrize(
    "text, sent",
    [
        ("{city}", "Paris"),
        ("{{city}}", "{city}"),  # an escaped pair: the braces as written, no value
        ("{{{city}}}", "{Paris}"),  # `{{` then `{city}` then `}}`, as in a Python format string
        ("x = {{{city}: 1}}", "x = {Paris: 1}"),  # the escapes need not touch the name
        ("{{ {{city}} }}", "{ {city} }"),
        ("{{{{city}}}}", "{{city}}"),
        ("{{{{{city}}}}}", "{{Paris}}"),
        ("{城市}、{{{城市}}}", "北京、{北京}"),
    ],
)
def test_brace_pairs_around_a_name_read_as_in_a_python_format_string(text, sent):
    assert interpolate(text, NAMESPACE) == sent == text.format(**NAMESPACE)


@pytest.mark.parametrize(
    "text, sent",
    [
        ('{"a": {"b": {city}}}', '{"a": {"b": Paris}}'),  # the `}}` closing the JSON has no partner
        ("{{{city}", "{{Paris"),
        ("{{{city}}", "{{Paris}"),  # `{{` (no `}}` closes it), `{city}`, `}`
        ("{{city}", "{{city}"),  # `{{` is read before the name, as str.format reads it
        ("{{city}}}", "{city}}"),
        ('{"a": {"b": 1}} {{city}}', '{"a": {"b": 1}} {city}'),  # a `}}` pairs only with a `{{` before it
        ("}} {{", "}} {{"),
    ],
)
def test_braces_without_a_partner_are_written_as_they_are(text, sent):
    assert interpolate(text, NAMESPACE) == sent


def test_an_unknown_name_keeps_its_braces_and_the_escapes_around_it_still_apply():
    text = "{town} and {{{town}}}"

    sent = interpolate(text, NAMESPACE)

    assert sent == "{town} and {{town}}"
    assert unknown_names(text, NAMESPACE) == ["town"]


def test_an_escaped_unknown_name_is_not_reported_as_unknown():
    assert unknown_names("{{town}} {{{{town}}}}", NAMESPACE) == []


def test_json_and_escaped_expressions_stay_as_before():
    text = '{"json": {"x": 1}} {{ a + b }} {1, 2}'

    assert interpolate(text, NAMESPACE) == '{"json": {"x": 1}} { a + b } {1, 2}'


def test_pasted_f_string_code_gets_the_value_and_raw_is_the_way_to_send_it_as_written():
    code = 'print(f"{{{city}}}")'

    assert interpolate(code, NAMESPACE) == 'print(f"{Paris}")'  # what the docstring warns of: use --raw
