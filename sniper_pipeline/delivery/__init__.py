"""Alert delivery in wall-clock time (design.md section 4): the outbox, its rules and apprise.

`outbox.enqueue` / `outbox.deliver_due` are the entry points for the Dagster asset;
`notifier.send_ops_alert` for the run-failure sensor; `mutes` for `sniper mute`;
`outbox.resolve_in_doubt` for an operator settling sends left in doubt by a crash. No Dagster here.
"""
