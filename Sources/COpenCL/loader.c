#include "COpenCL.h"
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const AlignCLOpenCLAPI *aligncl_opencl_load(const char *path, char *error, size_t error_length) {
    AlignCLOpenCLAPI table;
    AlignCLOpenCLAPI *api = &table;
    // RTLD_LOCAL keeps the loader's symbols out of the global namespace; it stays open for the
    // life of the process (the ICD loader does not support being unloaded and reopened).
    void *library = dlopen(path, RTLD_NOW | RTLD_LOCAL);
    if (library == NULL) {
        const char *reason = dlerror();
        snprintf(error, error_length, "%s", reason ? reason : "dlopen failed");
        return NULL;
    }
#define ALIGNCL_LOAD(name)                                                              \
    do {                                                                                \
        *(void **)(&api->name) = dlsym(library, "cl" #name);                            \
        if (api->name == NULL) {                                                        \
            snprintf(error, error_length, "%s has no symbol cl" #name, path);           \
            dlclose(library);                                                           \
            return NULL;                                                                \
        }                                                                               \
    } while (0)
    ALIGNCL_LOAD(GetPlatformIDs);
    ALIGNCL_LOAD(GetPlatformInfo);
    ALIGNCL_LOAD(GetDeviceIDs);
    ALIGNCL_LOAD(GetDeviceInfo);
    ALIGNCL_LOAD(CreateContext);
    ALIGNCL_LOAD(ReleaseContext);
    ALIGNCL_LOAD(CreateCommandQueue);
    ALIGNCL_LOAD(ReleaseCommandQueue);
    ALIGNCL_LOAD(CreateBuffer);
    ALIGNCL_LOAD(ReleaseMemObject);
    ALIGNCL_LOAD(CreateProgramWithSource);
    ALIGNCL_LOAD(CreateProgramWithBinary);
    ALIGNCL_LOAD(BuildProgram);
    ALIGNCL_LOAD(GetProgramInfo);
    ALIGNCL_LOAD(GetProgramBuildInfo);
    ALIGNCL_LOAD(ReleaseProgram);
    ALIGNCL_LOAD(CreateKernel);
    ALIGNCL_LOAD(ReleaseKernel);
    ALIGNCL_LOAD(SetKernelArg);
    ALIGNCL_LOAD(GetKernelWorkGroupInfo);
    ALIGNCL_LOAD(EnqueueNDRangeKernel);
    ALIGNCL_LOAD(EnqueueMapBuffer);
    ALIGNCL_LOAD(EnqueueUnmapMemObject);
    ALIGNCL_LOAD(EnqueueReadBuffer);
    ALIGNCL_LOAD(EnqueueWriteBuffer);
    ALIGNCL_LOAD(EnqueueCopyBuffer);
    ALIGNCL_LOAD(Finish);
    ALIGNCL_LOAD(Flush);
    ALIGNCL_LOAD(WaitForEvents);
    ALIGNCL_LOAD(GetEventProfilingInfo);
    ALIGNCL_LOAD(ReleaseEvent);
#undef ALIGNCL_LOAD
    AlignCLOpenCLAPI *copy = malloc(sizeof table);
    if (copy == NULL) {
        snprintf(error, error_length, "out of memory");
        return NULL;
    }
    memcpy(copy, &table, sizeof table);
    return copy;
}
