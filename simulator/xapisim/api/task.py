"""Tasks: created by Async calls (see dispatch.start_task) or by task.create (xapi_task.ml)."""
from __future__ import annotations

import uuid

from ..dispatch import api, record_session_task
from ..errors import XapiError
from ..model import DateTime

FINISHED = ("success", "failure", "cancelled")


@api("task.create", "string label, string description", "task ref", has_async=False)
async def create(call, label, description):
    task = call.db.create("task", name_label=label, name_description=description, status="pending",
                          created=DateTime.at(call.world.now()), resident_on=call.machine.host_ref,
                          type="<none/>", backtrace="()")
    record_session_task(call, task)
    return task


@api("task.cancel", "task ref task", has_async=True)
async def cancel(call, task):
    """Only a request, whatever the task's state: xapi replaces current_operations with the
    cancelling call's own task; an operation honours it at its next check (Call.check_cancelled)."""
    call.db.get("task", task)
    # a synchronous call runs under a dummy task, named after the call
    requester = call.task or f"DummyRef:|{uuid.uuid4()}|{call.message.wire_name}"
    call.db.set("task", task, current_operations={requester: "cancel"})


@api("task.destroy", "task ref self", has_async=False)
async def destroy(call, self):
    """A finished task goes at once; a pending one is marked and goes when it finishes."""
    record = call.db.get("task", self)
    if record["status"] in FINISHED:
        call.db.delete("task", self)
        return
    if "task" in record["current_operations"]:
        # xapi's add_to_current_operations (a non-idempotent map add) refuses a second request
        raise XapiError("MAP_DUPLICATE_KEY", "task", "current_operations", self, "task")
    call.db.set("task", self, current_operations={**record["current_operations"], "task": "destroy"})


# Explicit setters (xapi_task.ml): for clients that run their own tasks made by task.create.
@api("task.set_status", "task ref self, enum task_status_type value", has_async=False)
async def set_status(call, self, value):
    call.db.get("task", self)
    call.db.set("task", self, status=value)


@api("task.set_progress", "task ref self, float value", has_async=False)
async def set_progress(call, self, value):
    call.db.get("task", self)
    call.db.set("task", self, progress=value)


@api("task.set_result", "task ref self, string value", has_async=False)
async def set_result(call, self, value):
    call.db.get("task", self)
    call.db.set("task", self, result=value)


@api("task.set_error_info", "task ref self, string set value", has_async=False)
async def set_error_info(call, self, value):
    call.db.get("task", self)
    call.db.set("task", self, error_info=value)
