-- The dashboard's compliance rates per agent / team / script / day need the number of rule checks
-- per call. Counting them from call_rule_outcomes joined to calls cost ~100 ms per grouping at
-- 10 000 calls (four groupings per dashboard view); the count now sits in the call's row next to
-- `failed_rules`, written in the same transaction as the outcomes (Store::complete_with_analysis).
-- Keep this DDL identical in sqlite/ and postgres/.
ALTER TABLE calls ADD COLUMN rule_checks BIGINT;
UPDATE calls SET rule_checks = (SELECT COUNT(*) FROM call_rule_outcomes o WHERE o.call_id = calls.id)
    WHERE status = 'analyzed';
