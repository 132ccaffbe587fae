build2/tui/source.o: tui/source.c tui/source.h engine/model/model.h \
 engine/base/dtype.h engine/base/qt.h engine/recipe/recipe.h \
 engine/model/match.h engine/quant/scheme.h engine/base/yamltree.h \
 /usr/include/cjson/cJSON.h engine/eval/preview.h engine/quant/quant.h \
 tui/screen.h
tui/source.h:
engine/model/model.h:
engine/base/dtype.h:
engine/base/qt.h:
engine/recipe/recipe.h:
engine/model/match.h:
engine/quant/scheme.h:
engine/base/yamltree.h:
/usr/include/cjson/cJSON.h:
engine/eval/preview.h:
engine/quant/quant.h:
tui/screen.h:
