"""`make demo`: the whole loop on a fresh machine, end to end, with a report that is checked.

Starts Azurite, both simulators and the local Functions host on free ports (settings, secrets
and component logs in a temporary directory), then:

1. onboards the Kaizala connector through the PIN flow (the PIN read from the simulator's log),
   renews the access token and syncs the webhook subscription (validation handshake);
2. posts a Dataverse `Create` of an opportunity to the bridge, twice (201, then 200: one survey
   to the shared group);
3. has three group members answer the survey in the Kaizala simulator: one edits the answer,
   one delivery comes twice, one arrives while the Dataverse simulator is down;
4. restarts the host with `OPPORTUNITY_GROUP_MODE=per-opportunity` (the outage's event waits in
   the inbox) and posts the `Create` of a second opportunity, twice: one group of its own with
   the owner and the contact read from Dataverse, one survey in it; the owner answers, the
   contact writes in the group and the owner posts a photo from the Kaizala app (each
   delivered twice); then the bridge's subscription is removed in Kaizala, two more answer,
   and the backfill reads their responses back (webhooks/sync restores the subscription);
5. waits until every response is an activity (running `process_inbox` through the admin API
   when a retry or the summary note is due), prints a report and checks every number: the
   tasks, the notes of the chat, the summary note on the second opportunity.

Exit code 0 only if every check passed; otherwise the failed checks are named and the path of
the component logs is printed (the temporary directory is kept). Ctrl-C stops everything.

Run it with `python -m devtools.demo` (devtools.demo.__main__). The parts: `cast` (who and
what the demo uses), `harness` (the stack and the calls into it), `logs` (the components'
output), `scenario` (the steps), `report` (what the demo saw, its checks and its text),
`team` and `team_report` (the second part, its checks and text), `kaizala_app` (a person
using the Kaizala app).
"""
