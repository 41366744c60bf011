-- Data API statements. Lists are keyset-paginated, newest first: {filters} is replaced by a
-- fixed set of fragments and {limit} by the validated page size, both composed in
-- chimera_store.store.inputs (filter values always bound).
-- Inserts always get an id: the caller's, or a time-ordered one from chimera_store.ids.

-- name: insert_campaign
INSERT INTO campaigns (id, name, goal_description, status)
VALUES (%(id)s, %(name)s, %(goal_description)s, %(status)s)
RETURNING id, name, goal_description, status, created_at, updated_at, version;

-- name: get_campaign
SELECT id, name, goal_description, status, created_at, updated_at, version
FROM campaigns WHERE id = %(id)s;

-- name: list_campaigns
SELECT id, name, goal_description, status, created_at, updated_at, version
FROM campaigns WHERE {filters}
ORDER BY created_at DESC, id DESC LIMIT {limit};

-- name: update_campaign
UPDATE campaigns SET
    name = coalesce(%(name)s, name),
    goal_description = coalesce(%(goal_description)s, goal_description),
    status = coalesce(%(status)s, status)
WHERE id = %(id)s AND (%(expected_version)s::bigint IS NULL OR version = %(expected_version)s)
RETURNING id, name, goal_description, status, created_at, updated_at, version;

-- name: insert_agent
INSERT INTO agents (id, soul_md_path, character_reference_id, campaign_id)
VALUES (%(id)s, %(soul_md_path)s, %(character_reference_id)s, %(campaign_id)s)
RETURNING id, soul_md_path, character_reference_id, campaign_id, created_at;

-- name: get_agent
SELECT id, soul_md_path, character_reference_id, campaign_id, created_at
FROM agents WHERE id = %(id)s;

-- name: list_agents
SELECT id, soul_md_path, character_reference_id, campaign_id, created_at
FROM agents WHERE {filters}
ORDER BY created_at DESC, id DESC LIMIT {limit};

-- name: update_agent
UPDATE agents SET
    soul_md_path = coalesce(%(soul_md_path)s, soul_md_path),
    character_reference_id = coalesce(%(character_reference_id)s, character_reference_id)
WHERE id = %(id)s
RETURNING id, soul_md_path, character_reference_id, campaign_id, created_at;

-- name: insert_task
INSERT INTO tasks (id, campaign_id, task_type, priority, status, context, assigned_worker_id,
                   created_at)
VALUES (%(id)s, %(campaign_id)s, %(task_type)s, %(priority)s, %(status)s, %(context)s,
        %(assigned_worker_id)s, coalesce(%(created_at)s, now()))
RETURNING id, campaign_id, task_type, priority, status, context, created_at, assigned_worker_id,
          version, heartbeat_at;

-- name: get_task
SELECT id, campaign_id, task_type, priority, status, context, created_at, assigned_worker_id,
       version, heartbeat_at
FROM tasks WHERE id = %(id)s;

-- name: list_tasks
SELECT id, campaign_id, task_type, priority, status, context, created_at, assigned_worker_id,
       version, heartbeat_at
FROM tasks WHERE {filters}
ORDER BY created_at DESC, id DESC LIMIT {limit};

-- name: update_task
UPDATE tasks SET
    priority = coalesce(%(priority)s, priority),
    context = coalesce(%(context)s, context),
    assigned_worker_id = coalesce(%(assigned_worker_id)s, assigned_worker_id)
WHERE id = %(id)s
RETURNING id, campaign_id, task_type, priority, status, context, created_at, assigned_worker_id,
          version, heartbeat_at;

-- name: insert_asset
INSERT INTO video_assets (id, agent_id, task_id, platform, tier, character_reference_id, status,
                          metadata)
VALUES (%(id)s, %(agent_id)s, %(task_id)s, %(platform)s, %(tier)s, %(character_reference_id)s,
        %(status)s, %(metadata)s)
RETURNING id, agent_id, task_id, campaign_id, platform, tier, character_reference_id, status,
          metadata, created_at, version;

-- name: get_asset
SELECT id, agent_id, task_id, campaign_id, platform, tier, character_reference_id, status,
       metadata, created_at, version
FROM video_assets WHERE id = %(id)s;

-- name: list_assets
SELECT id, agent_id, task_id, campaign_id, platform, tier, character_reference_id, status,
       metadata, created_at, version
FROM video_assets WHERE {filters}
ORDER BY created_at DESC, id DESC LIMIT {limit};

-- name: update_asset_metadata
UPDATE video_assets SET metadata = %(metadata)s WHERE id = %(id)s
RETURNING id, agent_id, task_id, campaign_id, platform, tier, character_reference_id, status,
          metadata, created_at, version;

-- name: merge_asset_metadata
-- Shallow merge in one statement (the patch's top-level keys replace the stored ones, the
-- removed keys go), so two writers changing different keys both keep theirs. The size limit
-- holds for the merged document.
UPDATE video_assets SET metadata = (metadata - %(remove_keys)s::text[]) || %(metadata)s
WHERE id = %(id)s
  AND octet_length(((metadata - %(remove_keys)s::text[]) || %(metadata)s)::text) <= %(max_bytes)s
RETURNING id, agent_id, task_id, campaign_id, platform, tier, character_reference_id, status,
          metadata, created_at, version;

-- name: transition_task
-- One compare-and-set: moves only from an allowed status (and version, when given), appends the
-- history row in the same statement, and is a no-op when the idempotency key was already used.
WITH done AS (
    SELECT 1 FROM task_status_history
    WHERE task_id = %(id)s AND idempotency_key = %(idempotency_key)s
), prev AS (
    SELECT id, status FROM tasks WHERE id = %(id)s FOR UPDATE
), moved AS (
    -- A worker id given with the move is set in the same statement: a claim is atomic.
    UPDATE tasks t SET status = %(to_status)s,
        assigned_worker_id = coalesce(%(assigned_worker_id)s, t.assigned_worker_id)
    FROM prev
    WHERE t.id = prev.id AND prev.status = ANY(%(from_statuses)s)
      AND (%(expected_version)s::bigint IS NULL OR t.version = %(expected_version)s)
      AND NOT EXISTS (SELECT 1 FROM done)
    RETURNING t.id, t.campaign_id, t.task_type, t.priority, t.status, t.context, t.created_at,
              t.assigned_worker_id, t.version, t.heartbeat_at,
              prev.status AS from_status
), logged AS (
    INSERT INTO task_status_history (task_id, from_status, to_status, actor, reason,
                                     idempotency_key)
    SELECT id, from_status, status, %(actor)s, %(reason)s, %(idempotency_key)s FROM moved
)
SELECT id, campaign_id, task_type, priority, status, context, created_at, assigned_worker_id,
       version, heartbeat_at
FROM moved;

-- name: transition_asset
WITH done AS (
    SELECT 1 FROM asset_status_history
    WHERE asset_id = %(id)s AND idempotency_key = %(idempotency_key)s
), prev AS (
    SELECT id, status FROM video_assets WHERE id = %(id)s FOR UPDATE
), moved AS (
    UPDATE video_assets a SET status = %(to_status)s
    FROM prev
    WHERE a.id = prev.id AND prev.status = ANY(%(from_statuses)s)
      AND (%(expected_version)s::bigint IS NULL OR a.version = %(expected_version)s)
      AND NOT EXISTS (SELECT 1 FROM done)
    RETURNING a.id, a.agent_id, a.task_id, a.campaign_id, a.platform, a.tier,
              a.character_reference_id, a.status, a.metadata, a.created_at, a.version,
              prev.status AS from_status
), logged AS (
    INSERT INTO asset_status_history (asset_id, from_status, to_status, actor, reason,
                                      idempotency_key)
    SELECT id, from_status, status, %(actor)s, %(reason)s, %(idempotency_key)s FROM moved
)
SELECT id, agent_id, task_id, campaign_id, platform, tier, character_reference_id, status,
       metadata, created_at, version
FROM moved;

-- name: task_idempotent_hit
SELECT 1 FROM task_status_history WHERE task_id = %(id)s AND idempotency_key = %(key)s;

-- name: asset_idempotent_hit
SELECT 1 FROM asset_status_history WHERE asset_id = %(id)s AND idempotency_key = %(key)s;

-- name: task_history
-- Joined from the task so that an unknown id (no rows) differs from no history yet (one row of
-- NULLs, dropped by the caller).
SELECT h.id, t.id AS subject_id, h.from_status, h.to_status, h.actor, h.reason,
       h.idempotency_key, h.at
FROM tasks t LEFT JOIN task_status_history h ON h.task_id = t.id
WHERE t.id = %(id)s ORDER BY h.id;

-- name: asset_history
SELECT h.id, a.id AS subject_id, h.from_status, h.to_status, h.actor, h.reason,
       h.idempotency_key, h.at
FROM video_assets a LEFT JOIN asset_status_history h ON h.asset_id = a.id
WHERE a.id = %(id)s ORDER BY h.id;

-- name: judge_commit
-- The Judge's optimistic commit, one statement: the campaign must still be active at the version
-- the worker read, the task in review at its version; then task -> complete and its
-- judge_pending assets -> approved, with history. Zero rows back means stale: nothing changed.
-- The two slots are empty (all of the task's assets) or restrict to asset_ids: two statements
-- rather than one with "asset_ids IS NULL OR ...", whose generic plan costs a little more than a
-- custom one, so PostgreSQL re-planned the statement on every commit (0.9 -> 0.7 ms). With
-- asset_ids, the task moves only if every id named is one of its judge_pending assets: a
-- mistyped id refuses the commit rather than completing the task without that asset.
-- (No placeholders in these comments: psycopg would bind them.)
WITH camp AS (
    SELECT c.id FROM campaigns c
    JOIN tasks t ON t.campaign_id = c.id AND t.id = %(task_id)s
    WHERE c.status = 'active' AND c.version = %(campaign_version)s
    FOR SHARE OF c
), task AS (
    UPDATE tasks t SET status = 'complete'
    WHERE t.id = %(task_id)s AND t.status = 'review' AND t.version = %(task_version)s
      AND EXISTS (SELECT 1 FROM camp) {all_named}
    RETURNING t.id, t.campaign_id, t.task_type, t.priority, t.status, t.context, t.created_at,
              t.assigned_worker_id, t.version, t.heartbeat_at
), assets AS (
    UPDATE video_assets a SET status = 'approved'
    FROM task
    WHERE a.task_id = task.id AND a.status = 'judge_pending' {only_assets}
    RETURNING a.id
), task_log AS (
    INSERT INTO task_status_history (task_id, from_status, to_status, actor, reason)
    SELECT id, 'review', 'complete', %(actor)s, %(reason)s FROM task
), asset_log AS (
    INSERT INTO asset_status_history (asset_id, from_status, to_status, actor, reason)
    SELECT id, 'judge_pending', 'approved', %(actor)s, %(reason)s FROM assets
)
SELECT task.*, (SELECT coalesce(array_agg(id), ARRAY[]::uuid[]) FROM assets) AS approved
FROM task;

-- name: move_task_with_assets
-- A task's move and its assets' in one statement, with history: the Worker's submission
-- (in_progress -> review, draft assets -> judge_pending) and the Judge's rejection (review ->
-- pending, judge_pending assets -> rejected). The task moves only from its status at its
-- version; its assets in the given status follow it. Zero rows back means stale: nothing
-- changed. The statuses are bound values: the data API passes only those two pairs of moves.
-- The two slots are empty (all of the task's assets in that status) or restrict the move to
-- asset_ids, as in judge_commit: the task moves only if every id named is one of its assets in
-- that status (a submission names its own drafts, not those a dead Worker left).
WITH task AS (
    UPDATE tasks t SET status = %(task_to)s
    WHERE t.id = %(task_id)s AND t.status = %(task_from)s AND t.version = %(task_version)s
      {all_named}
    RETURNING t.id, t.campaign_id, t.task_type, t.priority, t.status, t.context, t.created_at,
              t.assigned_worker_id, t.version, t.heartbeat_at
), assets AS (
    UPDATE video_assets a SET status = %(asset_to)s
    FROM task
    WHERE a.task_id = task.id AND a.status = %(asset_from)s {only_assets}
    RETURNING a.id
), task_log AS (
    INSERT INTO task_status_history (task_id, from_status, to_status, actor, reason)
    SELECT id, %(task_from)s, %(task_to)s, %(actor)s, %(reason)s FROM task
), asset_log AS (
    INSERT INTO asset_status_history (asset_id, from_status, to_status, actor, reason)
    SELECT id, %(asset_from)s, %(asset_to)s, %(actor)s, %(reason)s FROM assets
)
SELECT task.*, (SELECT coalesce(array_agg(id), ARRAY[]::uuid[]) FROM assets) AS moved
FROM task;

-- name: task_asset_strays
-- Which of the asset_ids named in a Judge's commit or a Worker's submission are not the task's
-- assets in the status that move starts from (asset_status), in the order given.
SELECT n.id FROM unnest(%(asset_ids)s::uuid[]) WITH ORDINALITY AS n(id, pos)
WHERE NOT EXISTS (
    SELECT 1 FROM video_assets a
    WHERE a.id = n.id AND a.task_id = %(task_id)s AND a.status = %(asset_status)s
)
ORDER BY n.pos;

-- name: heartbeat_task
-- A Worker's heartbeat on the task it holds, only while the task is in progress at the version
-- the Worker claimed (one taken back or claimed again has moved on: zero rows, see
-- judge_commit_state). The version stays: chimera_bump_task_version ignores heartbeat_at.
UPDATE tasks SET heartbeat_at = now()
WHERE id = %(task_id)s AND status = 'in_progress' AND version = %(task_version)s
RETURNING heartbeat_at;

-- name: requeue_task
-- A stuck task back to pending, with its history row: only if still in progress at the version
-- it was listed at and with no heartbeat since the cut-off. A heartbeat that commits while this
-- waits for the row makes PostgreSQL re-check these conditions on the new row: the task stays.
WITH task AS (
    UPDATE tasks t SET status = 'pending'
    WHERE t.id = %(task_id)s AND t.status = 'in_progress' AND t.version = %(task_version)s
      AND (t.heartbeat_at IS NULL OR t.heartbeat_at < %(since)s)
    RETURNING t.id
)
INSERT INTO task_status_history (task_id, from_status, to_status, actor, reason)
SELECT id, 'in_progress', 'pending', %(actor)s, %(reason)s FROM task
RETURNING task_id;

-- name: judge_commit_state
SELECT c.status AS campaign_status, c.version AS campaign_version,
       t.status AS task_status, t.version AS task_version
FROM tasks t JOIN campaigns c ON c.id = t.campaign_id WHERE t.id = %(task_id)s;

-- name: campaign_summary
-- The campaign and its report in one round trip; no row means no such campaign. The asset counts
-- come from one pass over the campaign's assets (grouping sets), not one pass per dimension: at
-- 12,500 assets per campaign that took the report from ~130 to ~50 ms (docs/performance.md).
WITH asset_counts AS (
    SELECT status, platform, tier, count(*) AS n FROM video_assets
    WHERE campaign_id = %(id)s
    GROUP BY GROUPING SETS ((status), (platform), (tier))
)
SELECT c.id, c.name, c.goal_description, c.status, c.created_at, c.updated_at, c.version,
    (SELECT count(*) FROM agents WHERE campaign_id = c.id) AS agents,
    (SELECT coalesce(jsonb_object_agg(status, n), jsonb_build_object()) FROM
        (SELECT status, count(*) AS n FROM tasks WHERE campaign_id = c.id GROUP BY status) s)
        AS tasks_by_status,
    -- The columns are NOT NULL, so a NULL marks a row of another grouping set.
    (SELECT coalesce(jsonb_object_agg(status, n) FILTER (WHERE status IS NOT NULL),
                     jsonb_build_object()) FROM asset_counts) AS assets_by_status,
    (SELECT coalesce(jsonb_object_agg(platform, n) FILTER (WHERE platform IS NOT NULL),
                     jsonb_build_object()) FROM asset_counts) AS assets_by_platform,
    (SELECT coalesce(jsonb_object_agg(tier, n) FILTER (WHERE tier IS NOT NULL),
                     jsonb_build_object()) FROM asset_counts) AS assets_by_tier
FROM campaigns c WHERE c.id = %(id)s;

-- name: copy_assets
COPY video_assets (id, agent_id, task_id, platform, tier, character_reference_id, status,
                   metadata) FROM STDIN (FORMAT BINARY);

-- name: copy_tasks
COPY tasks (id, campaign_id, task_type, priority, status, context, assigned_worker_id)
FROM STDIN (FORMAT BINARY);

-- name: copy_task_payloads
-- Queue payloads carry their own created_at, which a replay keeps.
COPY tasks (id, campaign_id, task_type, priority, status, context, assigned_worker_id,
            created_at)
FROM STDIN (FORMAT BINARY);

-- name: purge_lock_campaign
-- A purge locks what it deletes, parents first, before deleting anything: the campaign (no new
-- agent or task: their foreign keys wait), then its agents and tasks (no new asset, history or
-- move), then its assets (no move). Each lock is its own statement, so each sees what was
-- committed before the previous one took hold. Without them a writer committing between two of
-- the deletes (a new asset after the assets went, a Judge's history row after the history went)
-- made the purge fail as a delete refused, and deleting children first took locks in the
-- opposite order to the Judge's commit (campaign, then task, then assets), which can deadlock.
-- Writers now wait for the purge and find no parent.
-- (Counted, so a campaign of a million assets does not send a million ids to the client.)
SELECT count(*) FROM (SELECT 1 FROM campaigns WHERE id = %(id)s FOR UPDATE) locked;

-- name: purge_lock_agents
SELECT count(*) FROM (SELECT 1 FROM agents WHERE campaign_id = %(id)s FOR UPDATE) locked;

-- name: purge_lock_tasks
SELECT count(*) FROM (SELECT 1 FROM tasks WHERE campaign_id = %(id)s FOR UPDATE) locked;

-- name: purge_lock_assets
SELECT count(*) FROM (SELECT 1 FROM video_assets WHERE campaign_id = %(id)s FOR UPDATE) locked;

-- name: tables_without_statistics
-- The tables a purge or clean deletes from that hold rows but have no planner statistics yet (a
-- new database right after a large load, before autovacuum's first ANALYZE), and whether this
-- role may have them analysed (chimera_analyse_new_tables, revision 0007: the owner and
-- chimera_service). Without statistics PostgreSQL plans the check of each deleted task or agent
-- for remaining assets as a BitmapAnd that reads the whole campaign's index every time: a
-- campaign of 10,000 tasks and 200,000 assets purged in 150 s, against 3.3 s once analysed
-- (docs/operations.md). Only tables this role may delete from: a role that may not gets its
-- permission error, not a warning that its delete may be slow.
SELECT c.relname,
       has_function_privilege('public.chimera_analyse_new_tables()', 'EXECUTE') AS may_analyse
FROM unnest(%(tables)s::text[]) AS t(name)
JOIN pg_class c ON c.oid = to_regclass(t.name)
JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE pg_relation_size(c.oid) > 0 AND has_table_privilege(c.oid, 'DELETE')
  AND NOT EXISTS (SELECT 1 FROM pg_stats s WHERE s.schemaname = n.nspname
                                               AND s.tablename = c.relname)
ORDER BY t.name;

-- name: analyse_new_tables
SELECT public.chimera_analyse_new_tables();

-- name: purge_asset_history
DELETE FROM asset_status_history h USING video_assets a
WHERE a.id = h.asset_id AND a.campaign_id = %(id)s;

-- name: purge_task_history
DELETE FROM task_status_history h USING tasks t
WHERE t.id = h.task_id AND t.campaign_id = %(id)s;

-- name: purge_assets
DELETE FROM video_assets WHERE campaign_id = %(id)s;

-- name: purge_tasks
DELETE FROM tasks WHERE campaign_id = %(id)s;

-- name: purge_agents
DELETE FROM agents WHERE campaign_id = %(id)s;

-- name: purge_campaign_row
DELETE FROM campaigns WHERE id = %(id)s;

-- name: clean_candidates
-- Retention: complete tasks created before the cut-off whose every asset is finished
-- (published or rejected). Work in flight never qualifies. SKIP LOCKED: never wait on a worker.
SELECT t.id FROM tasks t
WHERE t.status = 'complete' AND t.created_at < %(before)s
  AND NOT EXISTS (SELECT 1 FROM video_assets a
                  WHERE a.task_id = t.id AND a.status NOT IN ('published', 'rejected'))
ORDER BY t.created_at, t.id
LIMIT %(batch)s
FOR UPDATE OF t SKIP LOCKED;

-- name: clean_still_finished
-- The candidates again, once locked. A statement sees the rows as they were when it began, so
-- an asset added to a candidate after clean_candidates began but before it locked the task
-- was not seen there and would be deleted with the task, though nothing finished it. Locked,
-- a task takes no new asset until this transaction ends (the asset's foreign key waits), and
-- this later statement sees every asset committed before.
SELECT t.id FROM tasks t
WHERE t.id = ANY(%(ids)s)
  AND NOT EXISTS (SELECT 1 FROM video_assets a
                  WHERE a.task_id = t.id AND a.status NOT IN ('published', 'rejected'))
ORDER BY t.created_at, t.id;

-- name: clean_count
SELECT count(*) AS tasks, coalesce(sum(
           (SELECT count(*) FROM video_assets a WHERE a.task_id = t.id)), 0)::bigint AS video_assets
FROM tasks t
WHERE t.status = 'complete' AND t.created_at < %(before)s
  AND NOT EXISTS (SELECT 1 FROM video_assets a
                  WHERE a.task_id = t.id AND a.status NOT IN ('published', 'rejected'));

-- name: clean_archive
SELECT jsonb_build_object(
    'task', to_jsonb(t),
    'history', (SELECT coalesce(jsonb_agg(to_jsonb(h) ORDER BY h.id), '[]'::jsonb)
                FROM task_status_history h WHERE h.task_id = t.id),
    'video_assets', (SELECT coalesce(jsonb_agg(to_jsonb(a) || jsonb_build_object('history',
                        (SELECT coalesce(jsonb_agg(to_jsonb(ah) ORDER BY ah.id), '[]'::jsonb)
                         FROM asset_status_history ah WHERE ah.asset_id = a.id))
                     ORDER BY a.created_at, a.id), '[]'::jsonb)
                     FROM video_assets a WHERE a.task_id = t.id)
) AS record
FROM tasks t WHERE t.id = ANY(%(ids)s) ORDER BY t.created_at, t.id;

-- name: clean_asset_history
DELETE FROM asset_status_history h USING video_assets a
WHERE a.id = h.asset_id AND a.task_id = ANY(%(ids)s);

-- name: clean_assets
DELETE FROM video_assets WHERE task_id = ANY(%(ids)s);

-- name: clean_task_history
DELETE FROM task_status_history WHERE task_id = ANY(%(ids)s);

-- name: clean_tasks
DELETE FROM tasks WHERE id = ANY(%(ids)s);

-- name: export_campaign
-- A campaign export (store/transfer.py): every stored column of the campaign and of everything
-- under it, read in one REPEATABLE READ transaction through server-side cursors, so the file is
-- one consistent snapshot however long the reading takes. Parents come before their children.
SELECT id, name, goal_description, status, created_at, updated_at, version
FROM campaigns WHERE id = %(id)s;

-- name: snapshot_read
SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY;

-- name: export_agents
SELECT id, campaign_id, soul_md_path, character_reference_id, created_at
FROM agents WHERE campaign_id = %(id)s ORDER BY created_at, id;

-- name: export_tasks
SELECT id, campaign_id, task_type, priority, status, context, assigned_worker_id, created_at,
       version, heartbeat_at
FROM tasks WHERE campaign_id = %(id)s ORDER BY created_at, id;

-- name: export_task_history
-- Each task's history in its order (history ids are not exported: they are per database).
SELECT h.task_id, h.from_status, h.to_status, h.actor, h.reason, h.idempotency_key, h.at
FROM tasks t JOIN task_status_history h ON h.task_id = t.id
WHERE t.campaign_id = %(id)s ORDER BY t.created_at, t.id, h.id;

-- name: export_assets
SELECT id, agent_id, task_id, campaign_id, platform, tier, character_reference_id, status,
       metadata, created_at, version
FROM video_assets WHERE campaign_id = %(id)s ORDER BY created_at, id;

-- name: export_asset_history
SELECT h.asset_id, h.from_status, h.to_status, h.actor, h.reason, h.idempotency_key, h.at
FROM video_assets a JOIN asset_status_history h ON h.asset_id = a.id
WHERE a.campaign_id = %(id)s ORDER BY a.created_at, a.id, h.id;

-- name: import_campaign
INSERT INTO campaigns (id, name, goal_description, status, created_at, updated_at, version)
VALUES (%(id)s, %(name)s, %(goal_description)s, %(status)s, %(created_at)s, %(updated_at)s,
        %(version)s);

-- name: copy_agent
COPY agents (id, campaign_id, soul_md_path, character_reference_id, created_at)
FROM STDIN (FORMAT BINARY);

-- name: copy_task
COPY tasks (id, campaign_id, task_type, priority, status, context, assigned_worker_id,
            created_at, version, heartbeat_at)
FROM STDIN (FORMAT BINARY);

-- name: copy_asset
COPY video_assets (id, agent_id, task_id, campaign_id, platform, tier, character_reference_id,
                   status, metadata, created_at, version)
FROM STDIN (FORMAT BINARY);

-- name: stage_history
-- History entries name their task or asset but not its campaign, so a foreign key alone would
-- let an import attach history to another campaign's rows. They are staged (a temporary table,
-- gone at commit), then moved over only where the subject is this campaign's; `ord` is the
-- entry's position in the import, which names a stray one.
CREATE TEMPORARY TABLE IF NOT EXISTS chimera_import_history (
    ord bigint NOT NULL, subject uuid NOT NULL, from_status text, to_status text NOT NULL,
    actor text NOT NULL, reason text, idempotency_key text, at timestamptz NOT NULL
) ON COMMIT DROP;

-- name: copy_history
COPY chimera_import_history (ord, subject, from_status, to_status, actor, reason,
                             idempotency_key, at)
FROM STDIN (FORMAT BINARY);

-- name: move_task_history
WITH moved AS (
    INSERT INTO task_status_history (task_id, from_status, to_status, actor, reason,
                                     idempotency_key, at)
    SELECT s.subject, s.from_status, s.to_status, s.actor, s.reason, s.idempotency_key, s.at
    FROM chimera_import_history s
    JOIN tasks t ON t.id = s.subject AND t.campaign_id = %(campaign_id)s
    ORDER BY s.ord
    RETURNING 1
)
SELECT count(*) FROM moved;

-- name: move_asset_history
WITH moved AS (
    INSERT INTO asset_status_history (asset_id, from_status, to_status, actor, reason,
                                      idempotency_key, at)
    SELECT s.subject, s.from_status, s.to_status, s.actor, s.reason, s.idempotency_key, s.at
    FROM chimera_import_history s
    JOIN video_assets a ON a.id = s.subject AND a.campaign_id = %(campaign_id)s
    ORDER BY s.ord
    RETURNING 1
)
SELECT count(*) FROM moved;

-- name: stray_task_history
SELECT s.ord, s.subject FROM chimera_import_history s
WHERE NOT EXISTS (SELECT 1 FROM tasks t WHERE t.id = s.subject AND t.campaign_id = %(campaign_id)s)
ORDER BY s.ord LIMIT 1;

-- name: stray_asset_history
SELECT s.ord, s.subject FROM chimera_import_history s
WHERE NOT EXISTS (
    SELECT 1 FROM video_assets a WHERE a.id = s.subject AND a.campaign_id = %(campaign_id)s
)
ORDER BY s.ord LIMIT 1;

-- name: unstage_history
TRUNCATE chimera_import_history;

-- name: ping
-- A service's probe: one round trip, nothing read.
SELECT 1;
