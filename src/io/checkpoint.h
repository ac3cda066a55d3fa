/* Internal: training checkpoints, as safetensors files (so PyTorch and the safetensors tools
 * read them directly).
 *
 * Contents of a checkpoint of a parameter store ps (train/params.h):
 *   "<name>"               F32, the tensor's shape    weights, one per tensor of ps (F16 or
 *                                                     BF16 in a file saved for running only)
 *   "optimizer.m.<name>"   F32, the same shape        AdamW first moment   } only when saved
 *   "optimizer.v.<name>"   F32, the same shape        AdamW second moment  } with optimizer
 *   "optimizer.step"       I64, scalar (shape [])     AdamW step count     } state
 *   "__metadata__"         the caller's string pairs (e.g. "config": the model configuration
 *                          as JSON text, "model", "step", "epoch", "rng", "best_dev") plus
 *                          "attn.format": "checkpoint-1", written and checked here.
 *
 * Saving is atomic (io/atomic_file.h): a crash or kill during a save leaves either the previous
 * checkpoint or the new one. Output bytes depend only on the tensors, their values and the
 * metadata, so loading a checkpoint and saving it again reproduces the file exactly.
 *
 * Loading checks the whole file against ps before copying anything, so a failed load leaves ps
 * (and the optimizer buffers) unchanged: every tensor of ps must be present, of the same shape,
 * and F32 (weights may also be F16 or BF16, widened to float exactly), and the file may hold
 * no other weights. A mismatch names the tensor, the shape expected and the shape found, and says which model the file seems to belong to (its "model"
 * and "config" metadata). Files written by other tools (e.g. PyTorch's safetensors.torch
 * save_file with the same tensor names) load as long as they pass these checks. */
#ifndef ATTN_IO_CHECKPOINT_H
#define ATTN_IO_CHECKPOINT_H

#include "attn.h"
#include "io/safetensors.h"
#include "train/params.h"

#include <stdbool.h>
#include <stdint.h>

/* AdamW state: m and v hold ps->total floats each, laid out like ps->w. */
typedef struct attn__ckpt_optim {
    float *m, *v;
    int64_t step;
} attn__ckpt_optim_t;

/* Metadata read from a checkpoint (without "attn.format"), sorted by key. */
typedef struct attn__ckpt_meta {
    attn__st_meta_t *items;
    int64_t count;
    bool has_optimizer; /* the file holds optimizer state */
    char *storage;
} attn__ckpt_meta_t;

/* Saves ps's weights, and the optimizer state when opt is not NULL, with meta[0 .. meta_count)
 * (keys unique, UTF-8; "attn.format" is reserved). */
attn_status_t attn__ckpt_save(const char *path, const attn__params_t *ps,
                              const attn__ckpt_optim_t *opt, const attn__st_meta_t *meta,
                              int64_t meta_count);

/* Saves ps's weights alone as dtype: ATTN__ST_F32, or ATTN__ST_F16 / ATTN__ST_BF16 (each
 * weight rounded to nearest even; half the file, for models that are only run). */
attn_status_t attn__ckpt_save_weights(const char *path, const attn__params_t *ps,
                                      attn__st_dtype_t dtype, const attn__st_meta_t *meta,
                                      int64_t meta_count);

/* Loads weights into ps->w (ps allocated, with the same tensors as when saved). When opt is
 * not NULL the file must hold optimizer state, which fills opt->m, opt->v and opt->step;
 * with opt NULL any optimizer state in the file is ignored. When meta is not NULL it receives
 * the metadata (free it with attn__ckpt_meta_free, also after a failure). */
attn_status_t attn__ckpt_load(const char *path, attn__params_t *ps, attn__ckpt_optim_t *opt,
                              attn__ckpt_meta_t *meta);

void attn__ckpt_meta_free(attn__ckpt_meta_t *meta);
/* The value for key, or NULL. */
const char *attn__ckpt_meta_get(const attn__ckpt_meta_t *meta, const char *key);

#endif
