build2/cli/cmd_preview.o: cli/cmd_preview.c /usr/include/cjson/cJSON.h \
 engine/eval/calib.h engine/model/model.h engine/base/dtype.h \
 engine/base/qt.h cli/cli.h engine/eval/eval.h engine/eval/forward.h \
 engine/backend/cuda/cuda.h engine/quant/quant.h engine/quant/scheme.h \
 engine/model/match.h engine/eval/preview.h engine/recipe/recipe.h \
 engine/base/yamltree.h
/usr/include/cjson/cJSON.h:
engine/eval/calib.h:
engine/model/model.h:
engine/base/dtype.h:
engine/base/qt.h:
cli/cli.h:
engine/eval/eval.h:
engine/eval/forward.h:
engine/backend/cuda/cuda.h:
engine/quant/quant.h:
engine/quant/scheme.h:
engine/model/match.h:
engine/eval/preview.h:
engine/recipe/recipe.h:
engine/base/yamltree.h:
