/* Event stream: the parser, fed the input in chunks whose sizes come from the input, must
 * agree with a one-piece parse; every event it delivers must encode, and the encoding must
 * decode to the same event. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ripp/event.h"

#define MAX_EVENTS 1024

struct run {
    ripp_event *evs;
    size_t n;
};

static bool same(const ripp_event *a, const ripp_event *b)
{
    if (a->type != b->type || (a->type == RIPP_EV_UNKNOWN && strcmp(a->name, b->name) != 0))
        return false;
    if (a->has_seq != b->has_seq || a->seq != b->seq || a->has_direction != b->has_direction ||
        (a->has_direction && a->direction != b->direction) || a->timestamp_ms != b->timestamp_ms)
        return false;
    if (strcmp(a->call, b->call) || a->code != b->code ||
        strcmp(a->reason_phrase, b->reason_phrase) || a->reason.present != b->reason.present ||
        strcmp(a->reason.protocol, b->reason.protocol) || a->reason.cause != b->reason.cause ||
        strcmp(a->reason.text, b->reason.text) || strcmp(a->uri, b->uri) || a->count != b->count ||
        strcmp(a->tnt_destination, b->tnt_destination))
        return false;
    return true;
}

static int on_event(void *ud, const ripp_event *ev)
{
    static char out[RIPP_EVENT_MAX_BYTES];
    struct run *r = ud;
    int64_t n = ripp_event_encode(ev, out, sizeof out);
    if (n <= 0 || (size_t)n != strlen(out)) abort();
    ripp_event back;
    if (ripp_event_decode(&back, out, (size_t)n) != 0 || !same(ev, &back)) abort();
    if (r->n < MAX_EVENTS) r->evs[r->n] = *ev;
    r->n++;
    return 0;
}

static size_t chunk_size(const uint8_t *d, size_t n, size_t k)
{
    uint8_t b = d[(k * 13) % n];
    if (b >= 0xf8) return 512 + (size_t)(b & 0x07) * 4096;
    return 1 + (b & 0x3f);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static ripp_event whole_evs[MAX_EVENTS], chunk_evs[MAX_EVENTS];
    if (size == 0) return 0;
    ripp_event_parser p;

    struct run whole = {whole_evs, 0};
    ripp_event_parser_init(&p);
    int rc1 = ripp_event_parser_feed(&p, data, size, on_event, &whole);
    if (rc1 == 0) rc1 = ripp_event_parser_finish(&p);
    ripp_event_parser_free(&p);

    struct run chunked = {chunk_evs, 0};
    ripp_event_parser_init(&p);
    int rc2 = 0;
    for (size_t pos = 0, k = 0; pos < size && rc2 == 0; k++) {
        size_t m = chunk_size(data, size, k);
        if (m > size - pos) m = size - pos;
        rc2 = ripp_event_parser_feed(&p, data + pos, m, on_event, &chunked);
        pos += m;
    }
    if (rc2 == 0) rc2 = ripp_event_parser_finish(&p);
    if (p.cap > RIPP_EVENT_MAX_BYTES) abort();
    ripp_event_parser_free(&p);

    if (rc1 != rc2 || whole.n != chunked.n) abort();
    for (size_t i = 0; i < whole.n && i < MAX_EVENTS; i++) {
        if (!same(&whole_evs[i], &chunk_evs[i])) abort();
    }
    return 0;
}
