"""A scheduler pass costs the same few statements whether 5 or 50 escalation steps fall due.

Before the steps were taken together, every due step ran about eight statements of its own
(the recipients' preferences, the notifications to fold into, the alert's update, its audit
row, its notifications, its sequence number): ~500 steps falling due at once made a pass of
~4,000 statements. Now the due alerts' patients, chains, recipients and foldable
notifications are read a few hundred at a time and the writes go out together; the steps
still behave as if taken one after the other (the second alert of a patient folds into the
first one's notification, sequence numbers follow the order of the changes).
"""

from __future__ import annotations

import pytest

from tests.conftest import World
from tests.helpers import escalation_backlog

pytestmark = pytest.mark.scale


async def test_a_pass_does_not_grow_with_the_due_escalations(world: World) -> None:
    await escalation_backlog.pass_does_not_grow_with_the_due_escalations(world)


async def test_steps_taken_together_fold_and_number_as_one_after_the_other(
        world: World) -> None:
    await escalation_backlog.steps_fold_and_number_as_one_after_the_other(world)
