/* store_int.h - what the store backends share: record checks and the ripp_store wrapper. */
#ifndef RIPP_STORE_INT_H
#define RIPP_STORE_INT_H

#include <string.h>

#include "ripp/store.h"

/* True when the fixed-size field holds a NUL, i.e. the value fits. */
#define STORE_FITS(field) (memchr((field), 0, sizeof(field)) != NULL)

/* 0 when every string field is NUL-terminated within its array, else RIPP_ERR_LIMIT; an
 * empty key is RIPP_ERR_INVAL. */
int ripp_store_check_trunk(const ripp_trunk_rec *t);
int ripp_store_check_call(const ripp_call_rec *c);
int ripp_store_check_cdr(const ripp_cdr *cdr);
int ripp_store_check_token(const ripp_token_rec *t);
int ripp_store_check_consumer(const ripp_consumer_rec *c);
int ripp_store_check_prov(const ripp_prov_rec *p);
/* A key given as a plain string: RIPP_ERR_INVAL when NULL or empty, RIPP_ERR_LIMIT when it
 * has cap or more characters (cap counts the NUL). */
int ripp_store_check_key(const char *key, size_t cap);
/* Copies at most cap - 1 bytes of src (len bytes, not necessarily NUL-terminated) and
 * terminates; src NULL gives "". */
void ripp_store_copy(char *dst, size_t cap, const char *src, size_t len);
/* Allocates the handle; NULL and *err = RIPP_ERR_NOMEM on failure (impl untouched). */
ripp_store *ripp_store_wrap(const ripp_store_ops *ops, void *impl, int *err);

#endif
