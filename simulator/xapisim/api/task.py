"""Tasks: created by Async calls (see dispatch.start_task) or by task.create."""
from __future__ import annotations

from ..db import new_ref
from ..dispatch import api
from ..errors import XapiError
from ..model import DateTime


@api("task.create", "string label, string description", "task ref", has_async=False)
async def create(call, label, description):
    return call.db.create("task", name_label=label, name_description=description, status="pending",
                          created=DateTime.at(call.world.now()), resident_on=call.machine.host_ref)


@api("task.cancel", "task ref task", has_async=True)
async def cancel(call, task):
    record = call.db.get("task", task)
    if record["status"] != "pending":
        raise XapiError("OPERATION_NOT_ALLOWED", "task is not pending")
    # xapi only records the request; the operation honours it at its next check
    call.db.set("task", task, current_operations={**record["current_operations"], new_ref(): "cancel"})


@api("task.destroy", "task ref self", has_async=False)
async def destroy(call, self):
    call.db.get("task", self)
    call.db.delete("task", self)
