/* event.h - signaling events and the event stream codec (SPEC §3.1-§3.3, D2, D14, D15,
 * D16, D19, D29).
 *
 * A signaling byway carries "[" then comma-separated JSON objects, forever. Input may
 * start with "[" or "{"-style (objects back to back); whitespace (keep-alives), commas and
 * a closing "]" between objects are skipped. Each object is at most 64 KiB. */
#ifndef RIPP_EVENT_H
#define RIPP_EVENT_H

#include "ripp/ripp.h"

#define RIPP_EVENT_MAX_BYTES (64 * 1024)
#define RIPP_URI_MAX 1024

enum ripp_event_type {
    RIPP_EV_UNKNOWN = 0, /* a name we do not know: ignored by the receiver (logged) */
    RIPP_EV_ALERTING,
    RIPP_EV_ACCEPTED, /* alias on input: "answered" (T00) */
    RIPP_EV_REJECTED, /* alias on input: "declined" (T00); may carry code + reason */
    RIPP_EV_FAILED,   /* code + reason */
    RIPP_EV_NOANSWER,
    RIPP_EV_END,          /* aliases on input: "terminated", any event with "ended":true */
    RIPP_EV_MIGRATE,      /* uri ("migrateToURI"; input also "migrateToURl") */
    RIPP_EV_OPEN_REVERSE, /* count (default 1) */
    RIPP_EV_TNT,          /* tnt_destination ("tntDestination") */
    RIPP_EV_PROCEEDING,   /* T00; accepted on input, never required */
    RIPP_EV_TYPE_COUNT
};

enum ripp_dir { RIPP_DIR_C2S = 0, RIPP_DIR_S2C = 1 };

/* The `reason` of an end event (D15): {"protocol":"SIP"|"Q.850","cause":N,"text":"..."} */
typedef struct ripp_reason {
    bool present;
    char protocol[16];
    int cause;
    char text[128];
} ripp_reason;

typedef struct ripp_event {
    enum ripp_event_type type;
    char name[32]; /* the name as received (for UNKNOWN events and logs) */
    bool has_seq;
    uint64_t seq;
    bool has_direction;
    enum ripp_dir direction;
    int64_t timestamp_ms; /* 0 when absent */
    char call[RIPP_URI_MAX];
    /* failed */
    int code;
    char reason_phrase[128];
    /* end */
    ripp_reason reason;
    /* migrate */
    char uri[RIPP_URI_MAX];
    /* open-reverse */
    uint32_t count;
    /* tnt */
    char tnt_destination[128];
} ripp_event;

/* Canonical -03 name; "unknown" for RIPP_EV_UNKNOWN and out-of-range values. */
const char *ripp_event_type_name(enum ripp_event_type t);
/* Case-insensitive; knows the input aliases (answered, declined, terminated). */
enum ripp_event_type ripp_event_type_from_name(const char *name);
const char *ripp_dir_name(enum ripp_dir d); /* "c2s" / "s2c" */

/* Initialise ev as an event of this type with no optional members (count = 1, name = the
 * canonical name). */
void ripp_event_init(ripp_event *ev, enum ripp_event_type type);

/* Encode one event as a compact JSON object (no separators). Emits name (ev->name for
 * UNKNOWN events, else the canonical name), seq (if has_seq), direction (if has_direction),
 * timestamp (if non-zero), call (if non-empty) and the members of its type: failed → code,
 * reason (the phrase, if non-empty); end → reason object when present; migrate →
 * migrateToURI (if non-empty); open-reverse → count; tnt → tntDestination (if non-empty).
 * Returns the length (NUL-terminated in out), RIPP_ERR_LIMIT, or RIPP_ERR_INVAL (a string
 * field that is not valid UTF-8, an UNKNOWN event without a name, seq > INT64_MAX). */
int64_t ripp_event_encode(const ripp_event *ev, char *out, size_t cap);
/* Decode one JSON object. Returns 0, or RIPP_ERR_PROTO when it is not a JSON object,
 * lacks a string `name`, or a typed member has the wrong JSON type, or RIPP_ERR_LIMIT
 * when the object is over RIPP_EVENT_MAX_BYTES or an addressing string (call,
 * migrateToURI, tntDestination) is longer than its field. Informational strings (name,
 * reason phrase, reason protocol/text) are cut to their field at a character boundary.
 * A timestamp that is not a number is ignored. Unknown members are ignored. */
int ripp_event_decode(ripp_event *ev, const char *json, size_t len);

/* Incremental stream parser. Owns a buffer up to RIPP_EVENT_MAX_BYTES. */
typedef int (*ripp_event_cb)(void *ud, const ripp_event *ev);
typedef struct ripp_event_parser {
    char *buf;
    size_t len, cap;
    int depth;
    bool in_string, escape, started, closed;
    int failed;
    uint64_t events;
} ripp_event_parser;

void ripp_event_parser_init(ripp_event_parser *p);
void ripp_event_parser_free(ripp_event_parser *p);
/* Returns 0, RIPP_ERR_PROTO (malformed: bad byte between objects, bad JSON, bad event),
 * RIPP_ERR_LIMIT (an object over 64 KiB), RIPP_ERR_NOMEM, or the callback's non-zero
 * value. Errors are sticky. */
int ripp_event_parser_feed(ripp_event_parser *p, const uint8_t *in, size_t len, ripp_event_cb cb,
                           void *ud);
/* At end of stream: 0 when no object is half-read, else RIPP_ERR_TRUNCATED. */
int ripp_event_parser_finish(const ripp_event_parser *p);

/* The writer side: the opening bracket, and the separator before every event but the
 * first. Returns bytes written (NUL-terminated) or an error of ripp_event_encode; on error
 * out holds "". */
int64_t ripp_event_stream_open(char *out, size_t cap); /* "[" */
int64_t ripp_event_stream_item(const ripp_event *ev, bool first, char *out, size_t cap);

#endif
