build2/cli/cmd_eval.o: cli/cmd_eval.c /usr/include/cjson/cJSON.h \
 cli/cli.h engine/base/qt.h engine/quant/ggml_quants.h engine/eval/eval.h \
 engine/eval/forward.h engine/backend/cuda/cuda.h engine/base/dtype.h \
 engine/model/model.h engine/quant/quant.h engine/quant/scheme.h \
 engine/eval/qplan.h engine/io/report.h engine/recipe/deploy.h \
 engine/recipe/recipe.h engine/model/match.h engine/base/yamltree.h \
 engine/recipe/lint.h engine/eval/sensitivity.h engine/io/writer.h \
 engine/eval/ct_eval.h
/usr/include/cjson/cJSON.h:
cli/cli.h:
engine/base/qt.h:
engine/quant/ggml_quants.h:
engine/eval/eval.h:
engine/eval/forward.h:
engine/backend/cuda/cuda.h:
engine/base/dtype.h:
engine/model/model.h:
engine/quant/quant.h:
engine/quant/scheme.h:
engine/eval/qplan.h:
engine/io/report.h:
engine/recipe/deploy.h:
engine/recipe/recipe.h:
engine/model/match.h:
engine/base/yamltree.h:
engine/recipe/lint.h:
engine/eval/sensitivity.h:
engine/io/writer.h:
engine/eval/ct_eval.h:
