from datetime import timedelta

import pytest

from supervision.durations import parse_duration


@pytest.mark.parametrize(
    ("value", "seconds"),
    [
        (0, 0.0),
        (3, 3.0),
        (2.5, 2.5),
        (timedelta(minutes=1, seconds=30), 90.0),
        ("500ms", 0.5),
        ("5s", 5.0),
        ("2m", 120.0),
        ("1h", 3600.0),
        ("1d", 86400.0),
        ("1.5s", 1.5),
        ("1m30s", 90.0),
        ("1h30m", 5400.0),
        ("1d2h3m4s5ms", 93784.005),
        ("3", 3.0),
        ("0.25", 0.25),
        (" 2m ", 120.0),
        ("1m 30s", 90.0),
        ("5S", 5.0),
    ],
)
def test_accepted_forms_convert_to_seconds(value, seconds):
    assert parse_duration(value) == pytest.approx(seconds)
    assert isinstance(parse_duration(value), float)


@pytest.mark.parametrize(
    "value",
    [
        -1,
        -0.5,
        "-3",
        "-5s",
        timedelta(seconds=-1),
        True,
        False,
        float("nan"),
        float("inf"),
        "nan",
        "inf",
        "",
        "abc",
        "5x",
        "s",
        "1 5s",
        "5s1m",
        "1m1m",
        "9" * 400,
        None,
        [5],
    ],
)
def test_rejected_values_raise_value_error_quoting_value_and_forms(value):
    with pytest.raises(ValueError) as excinfo:
        parse_duration(value)
    message = str(excinfo.value)
    assert repr(value)[:20] in message
    assert "'1m30s'" in message
    assert "timedelta" in message
