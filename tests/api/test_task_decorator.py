"""What a user sees of ``@task``: its signature, its help, its options."""

from __future__ import annotations

import inspect
import pydoc

from pydantic import BaseModel

from water import RetryPolicy, task

OPTIONS = [
    "id",
    "description",
    "retry",
    "timeout",
    "circuit_breaker",
    "compensate",
    "resume_model",
    "max_workers",
    "input_model",
    "output_model",
]


class Order(BaseModel):
    order_id: str
    amount: int


class Receipt(BaseModel):
    order_id: str
    paid: int


def test_the_signature_of_task_lists_its_options():
    params = inspect.signature(task).parameters
    assert list(params) == ["fn", *OPTIONS]
    assert params["fn"].kind is inspect.Parameter.POSITIONAL_ONLY
    for name in OPTIONS:
        assert params[name].kind is inspect.Parameter.KEYWORD_ONLY, name
        assert params[name].default is None, name


def test_help_on_task_shows_its_options():
    text = pydoc.render_doc(task, renderer=pydoc.plaintext)
    assert "**options" not in text
    for name in OPTIONS:
        assert f"{name}: " in text, name  # in the signature
        assert f"``{name}``" in text, name  # and explained in the docstring


def test_options_given_to_the_decorator_configure_the_task():
    policy = RetryPolicy(max_attempts=2)

    @task(id="charge_card", retry=policy, timeout="30s", max_workers=3)
    def charge(order: Order) -> Receipt:
        """Charge the customer."""
        return Receipt(order_id=order.order_id, paid=order.amount)

    assert (charge.id, charge.retry, charge.timeout, charge.max_workers) == (
        "charge_card",
        policy,
        30.0,
        3,
    )
    assert (charge.input_model, charge.output_model) == (Order, Receipt)
    assert charge.description == "Charge the customer."
    assert charge(Order(order_id="A", amount=1)) == Receipt(order_id="A", paid=1)
