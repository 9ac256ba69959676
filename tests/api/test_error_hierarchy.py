import inspect

import water
import water.errors
from water import WaterError


def test_every_error_water_exports_derives_from_water_error():
    exported = [
        getattr(water, name)
        for name in water.__all__
        if inspect.isclass(getattr(water, name)) and issubclass(getattr(water, name), BaseException)
    ]
    assert len(exported) >= 20
    assert [e.__name__ for e in exported if not issubclass(e, WaterError)] == []


def test_the_errors_module_names_every_error_of_the_tree():
    tree = water.errors.__doc__ or ""
    for name in water.errors.__all__:
        assert name in tree, f"{name} is missing from the tree in water.errors"


def test_the_runtime_errors_share_the_root():
    from actors.journal import JournalClosed, StreamPoisoned
    from actors.messages import CommandRejected, SystemShutDown
    from actors.runs import SupervisorRestartedError, WorkerCrashedError
    from water.server.discovery import DiscoveryError
    from water.storage import ConcurrencyError

    for error in (
        JournalClosed,
        StreamPoisoned,
        CommandRejected,
        SystemShutDown,
        SupervisorRestartedError,
        WorkerCrashedError,
        DiscoveryError,
        ConcurrencyError,
    ):
        assert issubclass(error, WaterError), error
