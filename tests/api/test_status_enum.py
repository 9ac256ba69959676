from water import ExecutionStatus


def test_members_are_upper_case_with_lower_case_values():
    assert [m.name for m in ExecutionStatus] == [
        "PENDING",
        "RUNNING",
        "PAUSING",
        "PAUSED",
        "WAITING",
        "COMPLETED",
        "FAILED",
        "CANCELLED",
    ]
    assert ExecutionStatus.FAILED == "failed"
    assert ExecutionStatus("completed") is ExecutionStatus.COMPLETED
    assert ExecutionStatus.CANCELLED.is_terminal and not ExecutionStatus.WAITING.is_terminal
