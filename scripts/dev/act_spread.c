/* Development only (docs/cuda-notes.md): how far the CPU forward itself moves
 * under last-bit weight noise, per scheme.  ARGS: "Y [9]" layer by layer,
 * "L [9]" whole-model logits, "N SCHEME" KL of variant N (0 plain, 1-7
 * activation rounding dropped or added on some roles, 8 one ulp on 1/16 of
 * the weights, 9 weights times 1 + u, u uniform in +-5e-7).  Build:
 *   cc -O2 -Iengine -I. -D_GNU_SOURCE -o /tmp/act_spread scripts/dev/act_spread.c \
 *      build/libqtengine.a $(LDLIBS of the Makefile)
 * and run with QTUNE_BACKEND=cpu from the repository root. */
#include <stdio.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "eval/eval.h"
#include "eval/qplan.h"
#include "eval/forward.h"
#include "model/model.h"

static struct qt_fwd_hooks inner; static const struct qt_model *M; static int variant; static int PV = 8;
static unsigned long long rs=88172645463325252ull;
static int w(void *c, int ti, float *o, qt_err *e) { (void)c; int rc = inner.weight(inner.ctx, ti, o, e);
  const struct qt_tensor *t=&M->tensors[ti];
  if (rc == 1 && variant >= 8 && qt_role_is_linear(t->role) && t->ndim==2) { if (qt_tensor_read_f32(M,t,0,qt_tensor_rows(t),o,e)) return -1; rc = 0; }
  if (rc == 0 && variant >= 8 && t->ndim==2) { long n=qt_tensor_numel(t); for (long i=0;i<n;i++){ rs^=rs<<13;rs^=rs>>7;rs^=rs<<17; if (variant == 9) { o[i] *= 1.0f + 5e-7f * (float)((int)(rs >> 40 & 0xffff) - 32768) / 32768.0f; } else if ((rs>>60)==0) { unsigned u; memcpy(&u,&o[i],4); u += (rs>>59&1)?1:-1; if (o[i]!=0) memcpy(&o[i],&u,4);} } }
  return rc; }
static enum qt_fwd_act a(void *c, int ti) { (void)c;
  enum qt_fwd_act r = inner.act(inner.ctx, ti); const struct qt_tensor *t = &M->tensors[ti];
  if (variant == 1 && t->role == QT_ROLE_LM_HEAD) return QT_FWD_ACT_FP8_TOK;
  if (variant == 2 && (t->role == QT_ROLE_EXPERT_DOWN || t->role==QT_ROLE_SHARED_DOWN || t->role==QT_ROLE_MLP_DOWN)) return QT_FWD_ACT_NONE;
  if (variant == 3 && (t->role == QT_ROLE_EXPERT_GATE || t->role == QT_ROLE_EXPERT_UP|| t->role == QT_ROLE_EXPERT_DOWN)) return QT_FWD_ACT_NONE;
  if (variant == 4 && (t->role == QT_ROLE_ATTN_O)) return QT_FWD_ACT_NONE;
  if (variant == 5 && (t->role == QT_ROLE_ATTN_Q||t->role == QT_ROLE_ATTN_K||t->role == QT_ROLE_ATTN_V)) return QT_FWD_ACT_NONE;
  if (variant == 6 && (t->role == QT_ROLE_SHARED_GATE||t->role == QT_ROLE_SHARED_UP||t->role == QT_ROLE_SHARED_DOWN)) return QT_FWD_ACT_NONE;
  if (variant == 7 && t->layer == 0) return QT_FWD_ACT_NONE;
  return r; }

static void logit_cmp(struct qt_model *m, const char *sc) {
  qt_err err; struct qt_qplan p; qt_qplan_uniform(m, sc, &p, &err); inner = qt_qplan_hooks(&p);
  struct qt_fwd_hooks h = {.ctx = NULL, .weight = w, .act = a};
  int NS=2, SL=64, V=m->cfg.vocab; int32_t tok[128]; for (int i=0;i<128;i++) tok[i]=(i*7919)%V;
  float *l0=malloc(4L*NS*SL*V), *l1=malloc(4L*NS*SL*V);
  for (int k=0;k<2;k++){ variant = k?PV:0; struct qt_fwd *f; qt_fwd_init(m,&h,&f,&err); qt_fwd_run(f,tok,NS,SL,k?l1:l0,&err); qt_fwd_free(f);}
  double e2=0,r2=0; int mism=0;
  for (int t=0;t<NS*SL;t++){ int ia=0,ib=0; for(int v=0;v<V;v++){ double d=l0[t*V+v]-l1[t*V+v]; e2+=d*d; r2+=(double)l0[t*V+v]*l0[t*V+v]; if(l0[t*V+v]>l0[t*V+ia])ia=v; if(l1[t*V+v]>l1[t*V+ib])ib=v;} mism+=ia!=ib; }
  printf("%s logits rel %.3g argmax mismatches %d of %d\n", sc, sqrt(e2/r2), mism, NS*SL);
}

static void layer_cmp(struct qt_model *m, const char *sc) {
  qt_err err; struct qt_qplan p; qt_qplan_uniform(m, sc, &p, &err); inner = qt_qplan_hooks(&p);
  struct qt_fwd_hooks h = {.ctx = NULL, .weight = w, .act = a};
  int NS=2, SL=64, H=m->cfg.hidden; int32_t tok[128]; for (int i=0;i<128;i++) tok[i]=(i*7919)%m->cfg.vocab;
  float *h0=malloc(4L*NS*SL*H), *h1=malloc(4L*NS*SL*H);
  for (int L=0; L<m->cfg.n_layers; L++) {
  for (int k=0;k<2;k++){ variant = 0; struct qt_fwd *f; qt_fwd_init(m,&h,&f,&err); float *hh=k?h1:h0; qt_fwd_embed(f,tok,NS*SL,hh,&err);
     for (int l=0;l<L;l++) qt_fwd_layer(f,l,hh,NS,SL,&err); variant = k?PV:0; qt_fwd_set_hooks(f,&h); qt_fwd_layer(f,L,hh,NS,SL,&err); qt_fwd_free(f);}
  double e2=0,r2=0; for (long i=0;i<(long)NS*SL*H;i++){ double d=h0[i]-h1[i]; e2+=d*d; r2+=(double)h0[i]*h0[i]; }
  printf("%s layer %d rel %.3g\n", sc, L, sqrt(e2/r2)); }
}
int main(int argc, char **argv) {
  qt_err err; struct qt_model *m;
  if (qt_model_open("share/models/tiny-glm-moe", &m, &err)) { puts(err.msg); return 1; } M = m; if (argc > 2 && !strcmp(argv[2],"9")) PV = 9; if (!strcmp(argv[1],"Y")) { layer_cmp(m,"FP8_DYNAMIC"); layer_cmp(m,"W8A8"); return 0; } if (!strcmp(argv[1],"L")) { logit_cmp(m,"FP8_DYNAMIC"); logit_cmp(m,"W8A8"); logit_cmp(m,"W4A16"); return 0; } variant = atoi(argv[1]);
  struct qt_qplan p; if (qt_qplan_uniform(m, argc > 2 ? argv[2] : "FP8_DYNAMIC", &p, &err)) { puts(err.msg); return 1; }
  inner = qt_qplan_hooks(&p);
  struct qt_fwd_hooks h = {.ctx = NULL, .weight = w, .act = a};
  struct qt_eval_params ep = {0}; ep.data_path = "share/data/eval.txt"; ep.ctx = 256; ep.chunks = 4;
  struct qt_eval_base *b; if (qt_eval_base_init(m, &ep, &b, &err)) { puts(err.msg); return 1; }
  struct qt_kl_stats st; if (qt_eval_run(m, b, &h, 0, &ep, &st, &err)) { puts(err.msg); return 1; }
  printf("variant %d mean %.6g median %.6g p99 %.6g\n", variant, st.kld_mean, st.kld_median, st.kld_p99);
  return 0; }
