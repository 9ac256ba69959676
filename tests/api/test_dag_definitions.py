"""What a user sees of ``Dag`` before it runs: building, cycles, validation, types."""

from __future__ import annotations

import typing

import pytest
from pydantic import BaseModel

from water import Dag, Flow, FlowValidationError, TaskContext, WaterError, task


class Raw(BaseModel):
    rows: list[int]


class Clean(BaseModel):
    rows: list[int]


class Stats(BaseModel):
    total: int


class Report(BaseModel):
    text: str


@task
def extract(n: int) -> Raw:
    return Raw(rows=list(range(n)))


@task
def clean(extract: Raw) -> Clean:
    return Clean(rows=[r for r in extract.rows if r % 2 == 0])


@task
def enrich(extract: Raw) -> Stats:
    return Stats(total=sum(extract.rows))


@task
def report(clean: Clean, enrich: Stats, ctx: TaskContext) -> Report:
    return Report(text=f"{len(clean.rows)} rows, total {enrich.total}")


def etl() -> Dag:
    return (
        Dag("etl", "Nightly ETL")
        .add(extract)
        .add(clean, depends_on=["extract"])
        .add(enrich, depends_on=["extract"])
        .add(report, depends_on=["clean", "enrich"])
    )


# -- @task with several data parameters ---------------------------------------------------
def test_a_task_of_several_parameters_takes_one_input_with_a_field_each():
    fields = report.input_model.model_fields
    assert list(fields) == ["clean", "enrich"]
    assert (fields["clean"].annotation, fields["enrich"].annotation) == (Clean, Stats)
    assert report.output_model is Report
    # still the plain function when called
    assert report(Clean(rows=[0, 2]), Stats(total=3), None) == Report(text="2 rows, total 3")


def test_the_context_is_recognised_by_its_annotation_or_its_name():
    @task
    def annotated(a: int, b: int, anything: TaskContext) -> int:
        return a + b

    @task
    def named(a: int, b: int, context) -> int:
        return a + b

    @task
    def two_data(a: int, b: int) -> int:
        return a + b

    @task
    def classic(n: int, ctx: TaskContext) -> int:
        return n

    assert list(annotated.input_model.model_fields) == ["a", "b"]
    assert list(named.input_model.model_fields) == ["a", "b"]
    assert list(two_data.input_model.model_fields) == ["a", "b"]
    assert classic.input_model is int  # (data, context) as before
    with pytest.raises(TypeError, match=r"context .* must be its last parameter"):

        @task
        def misplaced(a: int, ctx: TaskContext, b: int) -> int:
            return a


def test_a_parameter_with_a_default_is_an_optional_field():
    @task
    def combine(left: int, right: int = 10) -> int:
        return left + right

    assert combine.input_model(left=1).right == 10


# -- building -------------------------------------------------------------------------------
def test_a_dag_is_built_fluently_and_validates():
    dag = etl()
    assert dag.validate() is dag
    assert [t.id for t in dag.tasks] == ["extract", "clean", "enrich", "report"]
    assert dag.dependencies == {
        "extract": [],
        "clean": ["extract"],
        "enrich": ["extract"],
        "report": ["clean", "enrich"],
    }
    assert dag.kind == "dag" and dag.description == "Nightly ETL"


def test_its_input_is_its_roots_input_and_its_output_the_sinks_by_id():
    dag = etl()
    assert dag.input_type is int
    out = dag.output_type
    assert typing.get_type_hints(out) == {"report": Report}


def test_a_cycle_is_refused_at_add_naming_the_tasks_on_it():
    @task
    def a(x: int) -> int:
        return x

    @task
    def b(x: int) -> int:
        return x

    dag = Dag("loop").add(a, depends_on=["b"])
    with pytest.raises(FlowValidationError) as caught:
        dag.add(b, depends_on=["a"])
    assert isinstance(caught.value, WaterError)
    assert "b -> a -> b" in str(caught.value)
    assert [t.id for t in dag.tasks] == ["a"]  # left as it was

    with pytest.raises(FlowValidationError, match="a -> a"):
        Dag("self").add(a, depends_on=["a"])


def test_a_longer_cycle_names_every_task_on_it():
    dag = etl()
    with pytest.raises(FlowValidationError) as caught:
        dag.add(extract, depends_on=["report"])
    assert "extract -> clean -> report -> extract" in str(caught.value)


def test_dependencies_may_be_given_as_tasks():
    dag = Dag("d").add(extract).add(clean, depends_on=[extract])
    assert dag.dependencies["clean"] == ["extract"]


def test_concurrency_must_be_a_positive_int():
    for bad in (0, -1, 1.5, True):
        with pytest.raises(ValueError, match="concurrency"):
            Dag("d", concurrency=bad)


def test_the_fingerprint_follows_the_edges():
    one = Dag("d").add(extract).add(clean, depends_on=["extract"]).add(enrich)
    other = Dag("d").add(extract).add(clean, depends_on=["extract"]).add(enrich, ["extract"])
    assert one.fingerprint != other.fingerprint
    again = Dag("d").add(extract).add(clean, depends_on=["extract"]).add(enrich)
    assert one.fingerprint == again.fingerprint


# -- validation -----------------------------------------------------------------------------
def test_validate_reports_every_problem_at_once_naming_the_ids():
    @task
    def summary(clean: Clean, stats: Stats) -> Report:
        return Report(text="")

    @task(id="clean")
    def clean_again(extract: Raw) -> Clean:
        return Clean(rows=[])

    dag = (
        Dag("broken")
        .add(extract)
        .add(clean, depends_on=["extract"])
        .add(clean_again, depends_on=["extract"])
        .add(enrich, depends_on=["extrakt"])
        .add(summary, depends_on=["clean", "enrich"])
    )
    with pytest.raises(FlowValidationError) as caught:
        dag.validate()
    problems = caught.value.problems
    assert str(caught.value).startswith("dag 'broken' is invalid")
    assert any("'clean'" in p and "several tasks" in p for p in problems), problems
    assert any("'enrich' depends on 'extrakt'" in p and "not in the dag" in p for p in problems)
    assert any("'summary'" in p and "no parameter named 'enrich'" in p for p in problems)
    assert any("'summary' needs 'stats'" in p for p in problems), problems
    assert len(problems) == 4


def test_validate_reports_a_parameter_whose_model_does_not_fit_its_dependency():
    @task
    def bad_report(clean: Stats, enrich: Stats) -> Report:
        return Report(text="")

    @task
    def wants_stats(s: Stats) -> Stats:
        return s

    dag = (
        Dag("mismatch")
        .add(extract)
        .add(clean, depends_on=["extract"])
        .add(enrich, depends_on=["extract"])
        .add(bad_report, depends_on=["clean", "enrich"])
        .add(wants_stats, depends_on=["clean"])
    )
    with pytest.raises(FlowValidationError) as caught:
        dag.validate()
    problems = caught.value.problems
    assert len(problems) == 2, problems
    assert "output of 'clean' (Clean) cannot feed parameter 'clean' of 'bad_report'" in problems[0]
    assert "output of 'clean' (Clean) cannot feed 'wants_stats'" in problems[1]


def test_every_task_without_dependencies_must_take_the_dags_input():
    @task
    def other_root(r: Raw) -> Raw:
        return r

    dag = Dag("roots").add(extract).add(other_root)
    with pytest.raises(FlowValidationError, match="'extract' and 'other_root' both take"):
        dag.validate()


def test_an_empty_dag_is_invalid():
    with pytest.raises(FlowValidationError, match="has no tasks"):
        Dag("empty").validate()


def test_a_flow_nested_in_a_dag_is_checked_like_a_task():
    inner = Flow("inner").then(clean)
    dag = Dag("outer").add(extract).add(inner, depends_on=["extract"])
    assert dag.validate().children() == [inner]
    typed = Dag("typed").add(enrich).add(Flow("wrong").then(clean), depends_on=["enrich"])
    with pytest.raises(FlowValidationError) as caught:
        typed.validate()
    assert "output of 'enrich' (Stats) cannot feed 'wrong'" in str(caught.value)


def test_a_dag_nests_in_a_flow_and_the_flow_checks_its_types():
    flow = Flow("nightly").then(etl())
    assert typing.get_type_hints(flow.validate().output_type) == {"report": Report}
    cleaning = Dag("cleaning").add(clean).add(enrich)
    bad = Flow("bad").then(enrich).then(cleaning)
    with pytest.raises(FlowValidationError, match="cannot feed 'cleaning'"):
        bad.validate()


def test_a_dags_output_is_checked_against_what_it_feeds():
    class Published(BaseModel):
        report: Report

    class Summary(BaseModel):
        summary: str

    @task
    def publish(out: Published) -> str:
        return out.report.text

    @task
    def summarize(out: Summary) -> str:
        return out.summary

    @task
    def count(etl: int) -> int:
        return etl

    Flow("fits").then(etl()).then(publish).validate()
    with pytest.raises(FlowValidationError) as caught:
        Flow("misses").then(etl()).then(summarize).validate()
    assert "Summary requires ['summary'] which etl_output does not have" in str(caught.value)
    with pytest.raises(FlowValidationError) as caught:
        Dag("outer").add(etl()).add(count, depends_on=["etl"]).validate()
    assert "output of 'etl' (etl_output) cannot feed 'count'" in str(caught.value)
