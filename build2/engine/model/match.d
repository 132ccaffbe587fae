build2/engine/model/match.o: engine/model/match.c engine/model/match.h \
 engine/model/model.h engine/base/dtype.h engine/base/qt.h
engine/model/match.h:
engine/model/model.h:
engine/base/dtype.h:
engine/base/qt.h:
