build2/tui/app.o: tui/app.c tui/app.h tui/keys.h tui/layout.h \
 tui/screen.h tui/mtree.h tui/source.h engine/model/model.h \
 engine/base/dtype.h engine/base/qt.h engine/recipe/recipe.h \
 engine/model/match.h engine/quant/scheme.h engine/base/yamltree.h \
 tui/widgets.h /usr/include/cjson/cJSON.h tui/edit.h sessions/session.h
tui/app.h:
tui/keys.h:
tui/layout.h:
tui/screen.h:
tui/mtree.h:
tui/source.h:
engine/model/model.h:
engine/base/dtype.h:
engine/base/qt.h:
engine/recipe/recipe.h:
engine/model/match.h:
engine/quant/scheme.h:
engine/base/yamltree.h:
tui/widgets.h:
/usr/include/cjson/cJSON.h:
tui/edit.h:
sessions/session.h:
