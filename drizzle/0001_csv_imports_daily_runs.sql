CREATE TYPE "public"."daily_run_status" AS ENUM('pending', 'done');--> statement-breakpoint
CREATE TYPE "public"."import_status" AS ENUM('queued', 'running', 'done', 'failed');--> statement-breakpoint
CREATE TABLE "daily_task_log_runs" (
	"log_date" date PRIMARY KEY NOT NULL,
	"run_at" timestamp with time zone NOT NULL,
	"status" "daily_run_status" DEFAULT 'pending' NOT NULL,
	"inserted" integer,
	"finished_at" timestamp with time zone
);
--> statement-breakpoint
CREATE TABLE "task_import_chunks" (
	"import_id" uuid NOT NULL,
	"seq" integer NOT NULL,
	"data" "bytea" NOT NULL,
	CONSTRAINT "task_import_chunks_import_id_seq_pk" PRIMARY KEY("import_id","seq")
);
--> statement-breakpoint
CREATE TABLE "task_import_errors" (
	"import_id" uuid NOT NULL,
	"row" integer NOT NULL,
	"message" text NOT NULL,
	CONSTRAINT "task_import_errors_import_id_row_pk" PRIMARY KEY("import_id","row")
);
--> statement-breakpoint
CREATE TABLE "task_imports" (
	"id" uuid PRIMARY KEY NOT NULL,
	"status" "import_status" DEFAULT 'queued' NOT NULL,
	"total_rows" integer NOT NULL,
	"processed_rows" integer DEFAULT 0 NOT NULL,
	"imported" integer DEFAULT 0 NOT NULL,
	"failure_reason" text,
	"file_name" varchar(255),
	"file_bytes" integer NOT NULL,
	"attempts" integer DEFAULT 0 NOT NULL,
	"created_by" integer NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL,
	"finished_at" timestamp with time zone
);
--> statement-breakpoint
ALTER TABLE "task_import_chunks" ADD CONSTRAINT "task_import_chunks_import_id_task_imports_id_fk" FOREIGN KEY ("import_id") REFERENCES "public"."task_imports"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "task_import_errors" ADD CONSTRAINT "task_import_errors_import_id_task_imports_id_fk" FOREIGN KEY ("import_id") REFERENCES "public"."task_imports"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "task_imports" ADD CONSTRAINT "task_imports_created_by_users_id_fk" FOREIGN KEY ("created_by") REFERENCES "public"."users"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
CREATE INDEX "daily_task_log_runs_pending_idx" ON "daily_task_log_runs" USING btree ("run_at") WHERE "daily_task_log_runs"."status" = 'pending';--> statement-breakpoint
CREATE INDEX "task_imports_unfinished_idx" ON "task_imports" USING btree ("created_at") WHERE "task_imports"."status" in ('queued', 'running');