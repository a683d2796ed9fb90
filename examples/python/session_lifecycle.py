"""Drives one sbx session through its whole lifecycle with the official Temporal Python SDK.

No sbx code is involved: only the wire contract in docs/temporal-api.md. Prints one JSON line per
step ({"step": ..., "result": ...}) so a caller (and sbx's own test) can check what happened.

    python session_lifecycle.py --address localhost:7233 --task-queue sbx-control --session-id py1
"""

import argparse
import asyncio
import json
import os
import sys

from temporalio.client import Client, WorkflowUpdateFailedError
from temporalio.exceptions import ApplicationError


def report(step, result):
    print(json.dumps({"step": step, "result": result}), flush=True)


async def call(handle, update, arg=None, *, id=None, attempts=30):
    """Sends an update; Busy and ContinuedAsNew are resent as they are (same update id, same toolCallId)."""
    for attempt in range(attempts):
        try:
            if arg is None:
                return await handle.execute_update(update, id=id)
            return await handle.execute_update(update, arg, id=id)
        except WorkflowUpdateFailedError as err:
            cause = err.cause
            retryable = isinstance(cause, ApplicationError) and cause.type in ("Busy", "ContinuedAsNew")
            if not retryable or attempt == attempts - 1:
                raise
        await asyncio.sleep(min(0.1 * 2**attempt, 2.0))


async def wait_for(handle, done, what, attempts=600):
    """Signals have no reply: poll the info query until the session shows their effect."""
    for _ in range(attempts):
        info = await handle.query("info")
        if done(info):
            return info
        await asyncio.sleep(0.2)
    raise TimeoutError(f"session never became {what}: {info}")


async def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--address", default="localhost:7233")
    parser.add_argument("--namespace", default="default")
    parser.add_argument("--task-queue", default="sbx-control")
    parser.add_argument("--session-id", required=True)
    args = parser.parse_args()
    sid = args.session_id

    client = await Client.connect(args.address, namespace=args.namespace)
    # The minimal start: the workflow applies every default itself.
    await client.start_workflow(
        "SessionWorkflow", {"request": {"sessionId": sid}}, id=f"sbx-session-{sid}", task_queue=args.task_queue
    )
    # No run id: a session continues as new as its history grows, and calls must reach its latest run.
    handle = client.get_workflow_handle(f"sbx-session-{sid}")
    report("create", await call(handle, "create", {"sessionId": sid}))
    report(
        "exec",
        await call(handle, "exec", {"toolCallId": "call-1", "command": "echo hi > /workspace/hi.txt"}, id="exec-call-1"),
    )
    report("turnComplete", await call(handle, "turnComplete"))
    report("rollback", await call(handle, "rollback", {"turn": 1}))

    await handle.signal("pause", {"mode": "hibernate"})
    report("pause", await wait_for(handle, lambda i: i["state"] == "paused", "paused"))
    await handle.signal("resume")
    report("resume", await wait_for(handle, lambda i: i["state"] == "active", "active"))
    report("pauseNow", await call(handle, "pauseNow", {"mode": "freeze"}))
    report("resumeNow", await call(handle, "resumeNow"))

    # A bad signal is not dropped: the session records why it refused it.
    await handle.signal("pause", "hibernate")
    report("rejectedSignal", (await wait_for(handle, lambda i: "lastRejectedSignal" in i, "marked"))["lastRejectedSignal"])
    # A bad update is refused with a typed error, and changes nothing.
    try:
        await handle.execute_update("exec", {"command": "true"})
        report("badExec", None)
    except WorkflowUpdateFailedError as err:
        cause = err.cause
        report("badExec", {"type": cause.type if isinstance(cause, ApplicationError) else None, "message": str(cause)})

    report("cat", await call(handle, "exec", {"toolCallId": "call-2", "command": "cat /workspace/hi.txt"}, id="exec-call-2"))
    report("destroy", await call(handle, "destroy"))


if __name__ == "__main__":
    asyncio.run(main())
    # Every result is printed. Under load the SDK's Rust threads can still call into Python while the
    # interpreter finalizes ("PyGILState_Release ... finalizing") and abort it: skip finalization.
    sys.stdout.flush()
    os._exit(0)
