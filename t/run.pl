#!/usr/bin/perl

# make run: nginx in the foreground on 127.0.0.1:8080 (CI_LISTEN) with the
# module in front of the bundled CI emulator, or, with CI_BUCKET, CI_REGION,
# CI_SECRET_ID and CI_SECRET_KEY (and optionally CI_SECURITY_TOKEN) set, in
# front of the real https://<bucket>.ci.<region>.myqcloud.com.  It serves
# the whole product: the gateway at /ci/ (JSON when Accept asks for it, the
# cache with a pending micro-cache and its lock, the watch: event streams
# and long-polls), the job-status page at /,
# the metrics at /ci-status.  CI_RUN_DIR: where its files go (build/run).

use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/lib";

use CiJobsTest;
use File::Path qw(make_path);

my $root = $CiJobsTest::ROOT;
my $dir = $ENV{CI_RUN_DIR} || "$root/build/run";
my $listen = $ENV{CI_LISTEN} || '127.0.0.1:8080';
my $real = $ENV{CI_BUCKET} && $ENV{CI_REGION}
           && $ENV{CI_SECRET_ID} && $ENV{CI_SECRET_KEY};

make_path("$dir/temp");

my ($emulator, $upstream);

if ($real) {
    $upstream = "ci_jobs_bucket $ENV{CI_BUCKET};\n"
              . "            ci_jobs_region $ENV{CI_REGION};\n"
              . "            ci_jobs_secret_id $ENV{CI_SECRET_ID};\n"
              . "            ci_jobs_secret_key $ENV{CI_SECRET_KEY};";
    $upstream .= "\n            ci_jobs_security_token "
               . "$ENV{CI_SECURITY_TOKEN};" if $ENV{CI_SECURITY_TOKEN};

} else {
    my $port = CiJobsTest::free_port();
    unlink "$dir/emulator.pid";

    $emulator = fork // die "fork: $!";
    if ($emulator == 0) {
        exec $^X, "$root/t/emulator/ci-emulator.pl",
             '--listen', "127.0.0.1:$port",
             '--host', $CiJobsTest::HOST,
             '--secret', "$CiJobsTest::SECRET_ID:$CiJobsTest::SECRET_KEY",
             '--pid-file', "$dir/emulator.pid";
        die "exec: $!";
    }

    CiJobsTest::wait_for(sub { -s "$dir/emulator.pid" }, 15)
        or die "the CI emulator did not start\n";

    $upstream = CiJobsTest::credentials()
              . "\n            ci_jobs_pass http://127.0.0.1:$port;";
}

my $user = $> == 0 ? 'user root;' : '';

# the page's jobs: the emulator's, finishing while one watches (timed<S>x<N>
# runs for S seconds from its first lookup), one finished, one failed, one
# CI does not know; with the real CI, the page asks for ?jobs=
my $jobs = $real ? ''
         : '?jobs=timed20x1,timed40x2,j8d121820f5e411ec926ef19d53ba9c6f,'
           . 'jobsFailed1,nosuchjob1&interval=2000';

open my $fh, '>', "$dir/nginx.conf" or die "$dir/nginx.conf: $!";
print $fh <<"CONF";
load_module $CiJobsTest::MODULE;
$user
worker_processes 1;
daemon off;
master_process on;
pid $dir/nginx.pid;
error_log stderr notice;
events { worker_connections 1024; }
http {
    access_log /dev/stdout;
    client_body_temp_path $dir/temp/body;
    proxy_temp_path $dir/temp/proxy;
    fastcgi_temp_path $dir/temp/fastcgi;
    uwsgi_temp_path $dir/temp/uwsgi;
    scgi_temp_path $dir/temp/scgi;

    ci_jobs_cache_zone ci_jobs:10m;

    server {
        listen $listen;

        # the job-status page, told by the gateway below (events)
        location = / {
            return 302 /job-status.html$jobs;
        }

        location = /job-status.html {
            root $root/examples;
        }

        location /ci/ {
            ci_jobs on;
            ci_jobs_json auto;
            ci_jobs_cache ci_jobs;
            ci_jobs_cache_valid_pending 1s;
            ci_jobs_watch on;
            ci_jobs_watch_interval 1s;
            $upstream
        }

        location = /ci-status {
            ci_jobs_status;
            allow 127.0.0.1;
            deny all;
        }
    }
}
CONF
close $fh;

my $job = 'j8d121820f5e411ec926ef19d53ba9c6f';
print "nginx on http://$listen/ in front of ",
      $real ? "https://$ENV{CI_BUCKET}.ci.$ENV{CI_REGION}.myqcloud.com"
            : "the CI emulator", "\n\n",
      "open  http://$listen/            the job-status page\n",
      "try   curl -i http://$listen/ci/jobs/$job\n",
      "      curl -H 'Accept: application/json' http://$listen/ci/jobs/$job\n",
      "      curl -N -H 'Accept: text/event-stream' "
      . "http://$listen/ci/jobs/timed30x$$   (events)\n",
      "      curl -i http://$listen/ci/jobs/..%2Fbucket      (refused)\n",
      "      curl http://$listen/ci-status                  (metrics)\n",
      "\nCtrl-C stops.\n";

my $nginx = fork // die "fork: $!";
if ($nginx == 0) {
    exec $CiJobsTest::NGINX, '-p', $dir, '-c', "$dir/nginx.conf";
    die "exec: $!";
}

$SIG{INT} = $SIG{TERM} = sub { kill 'QUIT', $nginx };
waitpid $nginx, 0;
my $status = $?;

if ($emulator) {
    kill 'TERM', $emulator;
    waitpid $emulator, 0;
}

exit($status >> 8);
