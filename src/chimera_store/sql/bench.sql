-- Baselines for `chimera-store bench`: what a hand-written psycopg program would run.

-- name: bench_raw_insert_asset
INSERT INTO video_assets (id, agent_id, task_id, platform, tier, character_reference_id, status,
                          metadata)
VALUES (%(id)s, %(agent_id)s, %(task_id)s, %(platform)s, %(tier)s, %(character_reference_id)s,
        %(status)s, %(metadata)s)
RETURNING *;

-- name: bench_raw_campaign_page
SELECT * FROM video_assets WHERE campaign_id = %(campaign_id)s
ORDER BY created_at DESC, id DESC LIMIT 100;

-- name: bench_join_campaign_page
SELECT va.* FROM video_assets va JOIN tasks t ON t.id = va.task_id
WHERE t.campaign_id = %(campaign_id)s
ORDER BY va.created_at DESC, va.id DESC LIMIT 100;

-- name: bench_raw_update
UPDATE tasks SET priority = %(priority)s WHERE id = %(id)s;

-- name: bench_prepare_review
UPDATE tasks SET status = 'review' WHERE id = ANY(%(ids)s);

-- name: bench_campaign_versions
SELECT t.id, t.version, c.version FROM tasks t JOIN campaigns c ON c.id = t.campaign_id
WHERE t.id = ANY(%(ids)s);

-- name: bench_analyze
ANALYZE;

-- name: bench_count_assets
SELECT count(*) FROM video_assets;

-- name: bench_task_cas
-- The floor of any optimistic commit: the task's compare-and-set alone, with no campaign check,
-- no assets and no history.
UPDATE tasks SET status = 'complete'
WHERE id = %(task_id)s AND status = 'review' AND version = %(task_version)s
RETURNING version;
