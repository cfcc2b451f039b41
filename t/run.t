#!/usr/bin/perl

# make run (t/run.pl) shows the product as the README's "Getting started"
# says: the gateway at /ci/ in XML and, on request, JSON, the cache, event
# streams, the job-status page at /, the metrics at /ci-status; and Ctrl-C stops it,
# nginx and the emulator with it.

use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/lib";

use CiJobsTest;
use File::Temp qw(tempdir);
use HTTP::Tiny;
use Test::More;

# the module as make run loads it, into nginx alone: a sanitizer build
# needs its runtimes preloaded into nginx only, which run.pl does not do
plan skip_all => 'make run runs the plain module, not a sanitizer build'
    if $ENV{TEST_NGINX_ASAN} || $ENV{TEST_NGINX_VALGRIND};

my $dir = tempdir(CLEANUP => !$ENV{TEST_NGINX_LEAVE});
my $listen = '127.0.0.1:' . CiJobsTest::free_port();
my $base = "http://$listen";

my $pid = fork // die "fork: $!";
if ($pid == 0) {
    open STDOUT, '>', "$dir/run.out";
    open STDERR, '>&', \*STDOUT;
    $ENV{CI_LISTEN} = $listen;
    $ENV{CI_RUN_DIR} = "$dir/run";
    delete @ENV{qw(CI_BUCKET CI_REGION CI_SECRET_ID CI_SECRET_KEY)};
    exec $^X, "$CiJobsTest::ROOT/t/run.pl" or die "exec: $!";
}

my $http = HTTP::Tiny->new(timeout => 20, max_redirect => 0);
my $job = 'j8d121820f5e411ec926ef19d53ba9c6f';

ok(CiJobsTest::wait_for(sub { $http->get("$base/ci-status")->{status} < 599 },
                        30), 'make run answers')
    or diag(CiJobsTest::slurp("$dir/run.out"));

like(CiJobsTest::slurp("$dir/run.out"), qr{open  http://\Q$listen\E/ },
     'it says what to open');

my $r = $http->get("$base/ci/jobs/$job");
is($r->{status}, 200, 'a lookup');
like($r->{headers}{'content-type'}, qr{^application/xml}, 'in XML');
like($r->{content}, qr{<State>Success</State>}, 'the job\'s state');

$r = $http->get("$base/ci/jobs/$job",
                { headers => { Accept => 'application/json' } });
is($r->{status}, 200, 'the lookup asking for JSON');
like($r->{headers}{'content-type'}, qr{^application/json}, 'in JSON');
like($r->{content}, qr{^\{"Response":\{"JobsDetail":\[\{.*"State":"Success"}s,
     'the JSON mapping');

# a job that finishes a second after it is first asked for, watched
$r = $http->get("$base/ci/jobs/timed2x$$",
                { headers => { Accept => 'text/event-stream' } });
is($r->{status}, 200, 'an event stream');
like($r->{content},
     qr/event: job\n.*"State":"Success".*\nevent: end\n(?:id: \S+\n)?data: \{\}\n/s,
     'the job\'s states pushed until it ends');

$r = $http->get("$base/ci/jobs/..%2Fbucket");
is($r->{status}, 400, 'a bad path is refused');

$r = $http->get("$base/");
is($r->{status}, 302, '/ sends the browser to the page');
my ($page) = ($r->{headers}{location} // '')
             =~ m{^(?:\Q$base\E)?(/job-status\.html\?jobs=.+)};
ok($page, 'naming the emulator\'s jobs');

$r = $http->get("$base$page");
is($r->{status}, 200, 'the job-status page');
like($r->{content}, qr{<title>CI job status</title>}, 'is served');

$r = $http->get("$base/ci-status");
is($r->{status}, 200, 'the metrics');
like($r->{content},
     qr/^ci_jobs_cache_requests_total\{[^}]*result="MISS"[^}]*\} [1-9]/m,
     'count the cache\'s lookups');

kill 'TERM', $pid;
ok(CiJobsTest::wait_for(sub { waitpid($pid, 1) == $pid }, 15),
   'Ctrl-C stops it');
my @left = grep { kill 0, $_ } map { CiJobsTest::slurp($_) =~ /(\d+)/ }
           "$dir/run/nginx.pid", "$dir/run/emulator.pid";
is("@left", '', 'nginx and the emulator with it');
ok(!$http->get("$base/ci-status")->{success}, 'the port is free again');

done_testing;
