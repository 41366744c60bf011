"""A campaign as an operator names it: its id, the start of its id or its name."""

from __future__ import annotations

from uuid import UUID

from chimera_store.errors import InvalidInput, NotFound
from chimera_store.records import Campaign
from chimera_store.store import Store

# At least four characters, as git takes the start of a commit's hash: fewer would match many.
_SHORTEST_ID_START = 4
# How a command's help says it (after "Campaign: " or what the option is for).
CAMPAIGN_FORMS = (
    f"its id, the start of its id ({_SHORTEST_ID_START}+ characters) or its exact name."
)
CAMPAIGN_HELP = f"Campaign: {CAMPAIGN_FORMS}"
_SHOWN = 5  # matches listed when a name is ambiguous


def campaign_id_of(store: Store, ref: str) -> str:
    """The id of the one campaign `ref` names: a whole id (passed on as it is, so the command
    reports a missing one as before), else the campaigns whose name is exactly `ref` and, when
    it looks like one, those whose id starts with it.

    None: NotFound (exit 8). Several: InvalidInput on campaign_id (exit 10), listing them.
    """
    try:
        UUID(ref)
    except ValueError:
        return str(_named(store, ref).id)
    return ref


def campaign_of(store: Store, ref: str) -> Campaign:
    """The one campaign `ref` names, as `campaign_id_of` finds it, read once: a command that
    needs the record itself (to check it exists, or to say what changed) takes the row the name
    lookup already read instead of reading it again by id.
    """
    try:
        UUID(ref)
    except ValueError:
        return _named(store, ref)
    return store.get_campaign(ref)  # a missing id: NotFound (exit 8)


def _named(store: Store, ref: str) -> Campaign:
    """The one campaign whose name is `ref` or whose id starts with it."""
    try:
        named = store.list_campaigns(name=ref, limit=_SHOWN + 1).items
    except InvalidInput:  # empty, too long, a NUL: no campaign can have that name
        named = []
    found: dict[UUID, Campaign] = {campaign.id: campaign for campaign in named}
    if len(ref) >= _SHORTEST_ID_START:
        try:
            started = store.list_campaigns(id_prefix=ref, limit=_SHOWN + 1).items
        except InvalidInput:  # not hex digits and dashes: the start of no id
            started = []
        found.update((campaign.id, campaign) for campaign in started)
    if len(found) == 1:
        return next(iter(found.values()))
    shown = repr(ref[:60])  # as InvalidInput shows a bad value: a long one cut short
    if not found:
        raise NotFound("campaign", shown)
    listed = "; ".join(f"{c.id} {c.name!r}" for c in list(found.values())[:_SHOWN])
    more = "" if len(found) <= _SHOWN else "; ..."
    raise InvalidInput(
        "campaign_id", f"{shown} names more than one campaign: {listed}{more} (give its id)"
    )
