-- mark_call_wrote(uuid), from 0020, marks the transaction's claim whoever holds it now: 0022's
-- two-argument form, which also names the claim and refuses one a repeat took over, replaced it
-- in the server, but the runtime role could still call the old one.
DROP FUNCTION mark_call_wrote(uuid);
