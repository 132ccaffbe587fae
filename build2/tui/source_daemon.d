build2/tui/source_daemon.o: tui/source_daemon.c \
 /usr/include/cjson/cJSON.h engine/daemon/client.h engine/base/qt.h \
 engine/daemon/job.h tui/screen.h sessions/session.h \
 engine/recipe/deploy.h engine/model/model.h engine/base/dtype.h \
 engine/recipe/recipe.h engine/model/match.h engine/quant/scheme.h \
 engine/base/yamltree.h tui/source.h
/usr/include/cjson/cJSON.h:
engine/daemon/client.h:
engine/base/qt.h:
engine/daemon/job.h:
tui/screen.h:
sessions/session.h:
engine/recipe/deploy.h:
engine/model/model.h:
engine/base/dtype.h:
engine/recipe/recipe.h:
engine/model/match.h:
engine/quant/scheme.h:
engine/base/yamltree.h:
tui/source.h:
